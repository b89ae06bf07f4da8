using Microsoft.Extensions.Logging;
using Virtio.Device;
using Virtio.Rings;

namespace Virtio.Devices.Net;

public sealed partial class VirtioNetDevice
{
    /// <summary>
    /// Sends every available tx chain (QEMU's <c>virtio_net_flush_tx</c>). A chain the backend refuses is kept and the
    /// queue stops, notifications off, until the backend says it is ready (<c>virtio_net_tx_complete</c>).
    /// </summary>
    private void HandleTx(VirtioQueue queue, int pair)
    {
        TxState state = _tx[pair];
        if (state.HasPending)
        {
            NetTransmitResult result = _backend.Transmit(pair, state.PendingHeader, state.Buffer.AsSpan(VirtioNetHeader.Size, state.PendingLength));
            if (result == NetTransmitResult.Busy)
            {
                return;
            }

            if (state.TryTakePending(out DescriptorChain sent))
            {
                CompleteSent(queue, state, sent, state.PendingLength);
            }
        }

        SplitQueue ring = queue.Ring;
        do
        {
            ring.SetNotification(false);
            while (IsLive && queue.TryPop(out DescriptorChain chain))
            {
                if (!TransmitChain(queue, pair, state, chain))
                {
                    return;
                }
            }
        }
        while (IsLive && ring.EnableNotificationAndRecheck());
    }

    /// <returns>False when the queue must stop: the backend is busy (chain held) or the chain broke the device.</returns>
    private bool TransmitChain(VirtioQueue queue, int pair, TxState state, in DescriptorChain chain)
    {
        if (chain.WritableCount != 0)
        {
            DeviceError(queue, chain, $"virtio-net tx chain {chain.Head} on queue {queue.Index} has {chain.WritableCount} device-writable descriptor(s)");
            return false;
        }

        if (chain.ReadableLength < VirtioNetHeader.Size)
        {
            DeviceError(queue, chain, $"virtio-net header incorrect: tx chain {chain.Head} on queue {queue.Index} has {chain.ReadableLength} byte(s), the header is {VirtioNetHeader.Size}");
            return false;
        }

        long frameLength = chain.ReadableLength - VirtioNetHeader.Size;
        if (frameLength > MaxFrameLength || frameLength < MinFrameLength)
        {
            Drop(queue, chain, frameLength > MaxFrameLength ? NetDropReason.Oversize : NetDropReason.Runt, pair, (int)Math.Min(frameLength, int.MaxValue));
            return true;
        }

        // The header may share a descriptor with the frame or be split across several (section 5.1.6.2). One buffer is
        // read in place, as QEMU hands the backend the mapped guest buffers; several are gathered into one frame.
        int length = (int)frameLength;
        bool inPlace = chain.TryGetSingleBuffer(out Span<byte> packet);
        if (!inPlace)
        {
            packet = state.Buffer.AsSpan(0, VirtioNetHeader.Size + length);
            if (chain.CopyFromReadable(packet) != packet.Length)
            {
                // The walk ended early (the guest rewrote the chain after the pop and broke the queue, or a reset made
                // it stale): the rest of the buffer holds the previous frame's bytes, so nothing of it may be sent.
                Drop(queue, chain, NetDropReason.ShortRead, pair, length);
                return true; // the loop stops by itself: the queue is broken or the device no longer live
            }
        }

        VirtioNetHeader header = VirtioNetHeader.Read(packet); // read once: the guest may change its buffer meanwhile
        if (CheckTxHeader(header, length) is { } problem)
        {
            if (Logger.IsEnabled(LogLevel.Warning))
            {
                NetLog.BadHeader(Logger, Name, pair, problem);
            }

            Drop(queue, chain, NetDropReason.BadHeader, pair, length);
            return true;
        }

        if (!LinkIsUp)
        {
            Drop(queue, chain, NetDropReason.LinkDown, pair, length); // virtio_net_drop_tx_queue_data
            return true;
        }

        // Section 5.1.6.2.2: the device ignores rx-only flags and num_buffers on tx.
        header = header with { Flags = header.Flags & NetHeaderFlags.NeedsCsum, BufferCount = 0 };
        ReadOnlySpan<byte> frame = packet.Slice(VirtioNetHeader.Size, length);
        if (_backend.Transmit(pair, header, frame) == NetTransmitResult.Busy)
        {
            if (inPlace)
            {
                frame.CopyTo(state.Buffer.AsSpan(VirtioNetHeader.Size)); // the retry sends the held copy
            }

            state.Hold(chain, header, length);
            NetLog.TxBusy(Logger, Name, pair, chain.Head);
            return false;
        }

        CompleteSent(queue, state, chain, length);
        return true;
    }

    /// <summary>Why a tx header is impossible for the negotiated features (section 5.1.6.2.1), or null.</summary>
    private string? CheckTxHeader(in VirtioNetHeader header, int frameLength)
    {
        bool needsCsum = (header.Flags & NetHeaderFlags.NeedsCsum) != 0;
        if (needsCsum)
        {
            if (!HasFeature(NetFeature.Csum))
            {
                return "NEEDS_CSUM without VIRTIO_NET_F_CSUM";
            }

            if (!NetChecksum.IsInside(frameLength, header.ChecksumStart, header.ChecksumOffset))
            {
                return $"checksum at {header.ChecksumStart}+{header.ChecksumOffset} outside the {frameLength}-byte frame";
            }
        }

        NetGsoType gso = header.GsoType;
        if (gso == NetGsoType.None)
        {
            return null;
        }

        bool negotiated = gso switch
        {
            NetGsoType.TcpV4 => HasFeature(NetFeature.HostTso4),
            NetGsoType.TcpV6 => HasFeature(NetFeature.HostTso6),
            _ => false, // UFO, USO and ECN are not offered
        };
        if (!negotiated)
        {
            return $"gso_type {(byte)gso} not negotiated";
        }

        if (!needsCsum)
        {
            return "gso_type without NEEDS_CSUM";
        }

        return header.GsoSize == 0 ? "gso_type with gso_size 0" : null;
    }

    private static void CompleteSent(VirtioQueue queue, TxState state, in DescriptorChain chain, int length)
    {
        queue.Complete(chain, 0);
        state.Sent.Count(length); // published once the handler run ends (TransmitBatch)
    }

    private void Drop(VirtioQueue queue, in DescriptorChain chain, NetDropReason reason, int pair, int length)
    {
        queue.Complete(chain, 0);
        CountDrop(reason, pair, length);
    }

    /// <summary>The backend can take frames again: kick every tx queue in use so a held chain is retried.</summary>
    private void OnTransmitReady()
    {
        for (int pair = 0; pair < _featurePairs; pair++)
        {
            Notify(TxIndex(pair));
        }
    }

    /// <summary>Per tx queue: the gather buffer, and the chain the backend refused, if any.</summary>
    private sealed class TxState
    {
        public readonly byte[] Buffer = new byte[VirtioNetHeader.Size + MaxFrameLength];

        /// <summary>Frames sent in the current handler run (the handler owns it, under the queue's lock).</summary>
        public FrameTally Sent;

        /// <summary>Frames sent since the device was created, published at the end of each run.</summary>
        public FrameTally Total;

        /// <summary>The managed thread ID running this pair's tx handler, 0 when none.</summary>
        public volatile int Transmitter;

        /// <summary>The tx handler looped frames back to this pair's backlog and owes its rx queue a kick.</summary>
        public bool RxKickDeferred;
        private DescriptorChain _pending;
        private int _hasPending;

        public bool HasPending => Volatile.Read(ref _hasPending) != 0;

        public VirtioNetHeader PendingHeader { get; private set; }

        public int PendingLength { get; private set; }

        public void Hold(in DescriptorChain chain, in VirtioNetHeader header, int length)
        {
            _pending = chain;
            PendingHeader = header;
            PendingLength = length;
            Volatile.Write(ref _hasPending, 1);
        }

        /// <summary>Claims the held chain once, whether the handler sent it or a reset gives it back.</summary>
        public bool TryTakePending(out DescriptorChain chain)
        {
            chain = _pending;
            return Interlocked.Exchange(ref _hasPending, 0) != 0;
        }
    }
}
