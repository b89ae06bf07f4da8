using System.Buffers.Binary;
using Virtio.Device;
using Virtio.Rings;

namespace Virtio.Devices.Net;

public sealed partial class VirtioNetDevice
{
    /// <summary>
    /// One control command (QEMU's <c>virtio_net_handle_ctrl_iov</c>): <c>class</c>, <c>command</c> and data readable,
    /// the one-byte ack writable. Unknown or unnegotiated commands answer VIRTIO_NET_ERR.
    /// </summary>
    protected override void HandleChain(VirtioQueue queue, in DescriptorChain chain)
    {
        ArgumentNullException.ThrowIfNull(queue);
        if (chain.ReadableLength < 2 || chain.WritableLength < 1)
        {
            DeviceError(queue, chain, $"virtio-net ctrl missing headers: chain {chain.Head} has {chain.ReadableLength} readable and {chain.WritableLength} writable byte(s)");
            return;
        }

        Span<byte> command = stackalloc byte[2];
        chain.CopyFromReadable(command);
        byte ack = Execute(chain, command[0], command[1], chain.ReadableLength - 2);
        NetLog.Control(Logger, Name, command[0], command[1], ack == NetControl.Ok ? "ok" : "err");
        chain.CopyToWritable([ack]);
        queue.Complete(chain, 1);
    }

    private byte Execute(in DescriptorChain chain, byte @class, byte command, uint dataLength)
    {
        switch (@class)
        {
            case NetControl.ClassRx when HasFeature(NetFeature.CtrlRx):
                return HandleRxMode(chain, command, dataLength);
            case NetControl.ClassMac:
                return HandleMac(chain, command, dataLength);
            case NetControl.ClassAnnounce when command == NetControl.AnnounceAck && HasFeature(NetFeature.GuestAnnounce):
                // virtio_net_handle_announce: acknowledged only while an announce is pending.
                if ((LinkStatus & NetConfigStatus.Announce) == 0)
                {
                    return NetControl.Err;
                }

                UpdateStatus(NetConfigStatus.None, NetConfigStatus.Announce);
                NetLog.Announce(Logger, Name, "acknowledged");
                return NetControl.Ok;
            case NetControl.ClassMq when command == NetControl.MqVqPairsSet && HasFeature(NetFeature.Mq):
                return HandleQueuePairs(chain, dataLength);
            default:
                return NetControl.Err;
        }
    }

    private byte HandleRxMode(in DescriptorChain chain, byte command, uint dataLength)
    {
        Span<byte> on = stackalloc byte[1];
        if (dataLength != 1 || command > NetControl.RxAllMulti)
        {
            return NetControl.Err; // ALLUNI, NOMULTI, NOUNI, NOBCAST need CTRL_RX_EXTRA, not offered
        }

        chain.CopyFromReadable(on, 2);
        if (command == NetControl.RxPromisc)
        {
            _filter.Promiscuous = on[0] != 0;
        }
        else
        {
            _filter.AllMulticast = on[0] != 0;
        }

        return NetControl.Ok;
    }

    private byte HandleMac(in DescriptorChain chain, byte command, uint dataLength)
    {
        if (command == NetControl.MacAddrSet && HasFeature(NetFeature.CtrlMacAddr))
        {
            if (dataLength != 6)
            {
                return NetControl.Err;
            }

            Span<byte> mac = stackalloc byte[6];
            chain.CopyFromReadable(mac, 2);
            lock (_configLock)
            {
                mac.CopyTo(_mac);
                mac.CopyTo(Config[ConfigMac..]);
            }

            return NetControl.Ok;
        }

        if (command != NetControl.MacTableSet || !HasFeature(NetFeature.CtrlRx))
        {
            return NetControl.Err;
        }

        // Two tables, unicast then multicast, each le32 entries + entries * 6 bytes, filling the data exactly.
        Span<byte> word = stackalloc byte[4];
        uint offset = 2;
        uint end = 2 + dataLength;
        if (!ReadEntries(chain, word, offset, end, out uint unicast) || !ReadEntries(chain, word, offset + 4 + (6 * unicast), end, out uint multicast)
            || offset + 4 + (6 * unicast) + 4 + (6 * multicast) != end)
        {
            return NetControl.Err;
        }

        ApplyTable(chain, multicast: false, unicast, offset + 4);
        ApplyTable(chain, multicast: true, multicast, offset + 4 + (6 * unicast) + 4);
        return NetControl.Ok;
    }

    private static bool ReadEntries(in DescriptorChain chain, Span<byte> word, uint at, uint end, out uint entries)
    {
        entries = 0;
        if ((ulong)at + 4 > end || chain.CopyFromReadable(word, at) != 4)
        {
            return false;
        }

        entries = BinaryPrimitives.ReadUInt32LittleEndian(word);
        return (ulong)at + 4 + (6UL * entries) <= end;
    }

    private void ApplyTable(in DescriptorChain chain, bool multicast, uint entries, uint at)
    {
        if (entries > NetRxFilter.TableEntries)
        {
            _filter.SetTable(multicast, (int)Math.Min(entries, int.MaxValue), default);
            return;
        }

        Span<byte> macs = stackalloc byte[NetRxFilter.TableEntries * 6];
        int n = chain.CopyFromReadable(macs[..(int)(entries * 6)], at);
        _filter.SetTable(multicast, n / 6, macs);
    }

    private byte HandleQueuePairs(in DescriptorChain chain, uint dataLength)
    {
        Span<byte> pairs = stackalloc byte[2];
        if (dataLength != 2)
        {
            return NetControl.Err;
        }

        chain.CopyFromReadable(pairs, 2);
        ushort wanted = BinaryPrimitives.ReadUInt16LittleEndian(pairs);
        if (wanted < NetControl.MqVqPairsMin || wanted > NetControl.MqVqPairsMax || wanted > MaxQueuePairs)
        {
            return NetControl.Err; // virtio_net_handle_mq
        }

        Volatile.Write(ref _activePairs, wanted);
        NetLog.SetQueuePairs(Logger, Name, wanted);
        return NetControl.Ok;
    }
}
