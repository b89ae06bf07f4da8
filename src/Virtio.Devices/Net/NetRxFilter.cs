namespace Virtio.Devices.Net;

/// <summary>
/// The receive filter the control queue programs (QEMU's <c>receive_filter</c>): promiscuous, all-multicast, and
/// unicast/multicast MAC tables of up to 64 entries each, where a longer table means "accept all of that kind"
/// (QEMU's <c>uni_overflow</c>/<c>multi_overflow</c>). Updates race benignly with frames being filtered.
/// </summary>
internal sealed class NetRxFilter
{
    public const int TableEntries = 64;

    private readonly byte[] _unicast = new byte[TableEntries * 6];
    private readonly byte[] _multicast = new byte[TableEntries * 6];
    private int _unicastCount;
    private int _multicastCount;
    private bool _unicastOverflow;
    private bool _multicastOverflow;

    public NetRxFilter() => Reset();

    public bool Promiscuous { get; set; }

    public bool AllMulticast { get; set; }

    public int UnicastCount => _unicastCount;

    public int MulticastCount => _multicastCount;

    public void Reset()
    {
        Promiscuous = true;
        AllMulticast = false;
        _unicastCount = 0;
        _multicastCount = 0;
        _unicastOverflow = false;
        _multicastOverflow = false;
    }

    /// <summary>Replaces a table; more than <see cref="TableEntries"/> entries means overflow (accept all).</summary>
    public void SetTable(bool multicast, int entries, ReadOnlySpan<byte> macs)
    {
        bool overflow = entries > TableEntries;
        int kept = overflow ? 0 : entries;
        if (multicast)
        {
            macs[..(kept * 6)].CopyTo(_multicast);
            _multicastCount = kept;
            _multicastOverflow = overflow;
        }
        else
        {
            macs[..(kept * 6)].CopyTo(_unicast);
            _unicastCount = kept;
            _unicastOverflow = overflow;
        }
    }

    public bool Accepts(ReadOnlySpan<byte> frame, ReadOnlySpan<byte> ownMac)
    {
        if (Promiscuous)
        {
            return true;
        }

        ReadOnlySpan<byte> destination = frame[..6];
        if ((destination[0] & 1) != 0)
        {
            // Broadcast is a multicast address that is always accepted (no NOBCAST: CTRL_RX_EXTRA is not offered).
            return destination.SequenceEqual((ReadOnlySpan<byte>)[0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
                || AllMulticast || _multicastOverflow || Contains(_multicast, _multicastCount, destination);
        }

        return _unicastOverflow || destination.SequenceEqual(ownMac) || Contains(_unicast, _unicastCount, destination);
    }

    private static bool Contains(byte[] table, int count, ReadOnlySpan<byte> mac)
    {
        for (int i = 0; i < count; i++)
        {
            if (table.AsSpan(i * 6, 6).SequenceEqual(mac))
            {
                return true;
            }
        }

        return false;
    }
}
