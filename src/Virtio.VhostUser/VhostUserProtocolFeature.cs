namespace Virtio.VhostUser;

/// <summary>Protocol feature bits (GET/SET_PROTOCOL_FEATURES), as masks.</summary>
[Flags]
public enum VhostUserProtocolFeature : ulong
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>VHOST_USER_PROTOCOL_F_MQ: GET_QUEUE_NUM, several queues.</summary>
    MultiQueue = 1UL << 0,

    /// <summary>VHOST_USER_PROTOCOL_F_REPLY_ACK: NEED_REPLY is honoured with a u64 status reply.</summary>
    ReplyAck = 1UL << 3,

    /// <summary>VHOST_USER_PROTOCOL_F_CONFIG: GET_CONFIG and SET_CONFIG.</summary>
    Config = 1UL << 9,

    /// <summary>VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD: GET/SET_INFLIGHT_FD.</summary>
    InflightShmfd = 1UL << 12,

    /// <summary>VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS: GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG.</summary>
    ConfigureMemSlots = 1UL << 15,
}
