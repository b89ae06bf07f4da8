namespace Virtio.VhostUser;

/// <summary>Constants of the vhost-user protocol (QEMU <c>docs/interop/vhost-user.rst</c>).</summary>
public static class VhostUserProtocol
{
    /// <summary>Bytes of the message header: request u32, flags u32, size u32.</summary>
    public const int HeaderSize = 12;

    /// <summary>
    /// The largest payload accepted. The protocol's biggest messages are SET_MEM_TABLE (8 + 8 x 32 bytes) and
    /// GET/SET_CONFIG (12 + 256 bytes); anything longer is a broken or hostile front-end and ends the connection.
    /// </summary>
    public const int MaxPayloadSize = 4096;

    /// <summary>At most this many descriptors travel with one message.</summary>
    public const int MaxFds = 8;

    /// <summary>Flags: the protocol version, in bits 0-1; always 1.</summary>
    public const uint FlagVersion = 0x1;

    /// <summary>Flags: the mask of the version bits.</summary>
    public const uint FlagVersionMask = 0x3;

    /// <summary>Flags: this message is a reply.</summary>
    public const uint FlagReply = 0x4;

    /// <summary>Flags: the sender wants a reply (REPLY_ACK), even for a request that has none of its own.</summary>
    public const uint FlagNeedReply = 0x8;

    /// <summary>VHOST_USER_F_PROTOCOL_FEATURES, a virtio feature bit (30) that says GET_PROTOCOL_FEATURES exists.</summary>
    public const ulong ProtocolFeaturesFeature = 1UL << 30;

    /// <summary>VHOST_F_LOG_ALL (bit 26): dirty-page logging, for migration (not supported).</summary>
    public const ulong LogAllFeature = 1UL << 26;

    /// <summary>In SET_VRING_KICK/CALL/ERR: the ring index is in bits 0-7.</summary>
    public const ulong VringIndexMask = 0xff;

    /// <summary>In SET_VRING_KICK/CALL/ERR: no descriptor is passed (polling, or no channel).</summary>
    public const ulong VringNoFdMask = 1UL << 8;

    /// <summary>The largest config-space access in GET/SET_CONFIG.</summary>
    public const int MaxConfigSize = 256;

    /// <summary>Regions in one SET_MEM_TABLE (VHOST_MEMORY_BASELINE_NREGIONS).</summary>
    public const int MaxMemTableRegions = 8;
}
