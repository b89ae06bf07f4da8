namespace Virtio.Devices.Net;

/// <summary>Control queue classes, commands and acks (section 5.1.6.5).</summary>
internal static class NetControl
{
    public const byte Ok = 0;
    public const byte Err = 1;

    public const byte ClassRx = 0;
    public const byte RxPromisc = 0;
    public const byte RxAllMulti = 1;

    public const byte ClassMac = 1;
    public const byte MacTableSet = 0;
    public const byte MacAddrSet = 1;

    public const byte ClassAnnounce = 3;
    public const byte AnnounceAck = 0;

    public const byte ClassMq = 4;
    public const byte MqVqPairsSet = 0;
    public const ushort MqVqPairsMin = 1;
    public const ushort MqVqPairsMax = 0x8000;
}
