using Microsoft.Extensions.Logging;
using Virtio.Device;
using Virtio.Rings;

namespace Virtio.Devices.Net;

public sealed partial class VirtioNetDevice
{
    /// <summary>Tx chains popped and completed together: DPDK's vhost burst (MAX_PKT_BURST 32).</summary>
    private const int TxBurst = 32;

    /// <summary>The used length of every tx chain: the device writes nothing into them.</summary>
    private static readonly uint[] ZeroLengths = new uint[TxBurst];

    private enum TxOutcome
    {
        /// <summary>Sent or dropped: complete it with the burst.</summary>
        Completed,

        /// <summary>The backend is busy: the chain is held for the retry.</summary>
        Held,

        /// <summary>The chain broke the device and was given up.</summary>
        Broken,

        /// <summary>The device is no longer live: the chain was not looked at.</summary>
        Stopped,
    }

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

        // Bursts as DPDK's rte_vhost_dequeue_burst: up to TxBurst chains popped, sent, then completed with one
        // used->idx store and one notification decision, instead of one each per frame.
        SplitQueue ring = queue.Ring;
        Span<DescriptorChain> burst = state.Burst;
        do
        {
            ring.SetNotification(false);
            int count;
            while (IsLive && (count = queue.TryPopBurst(burst)) > 0)
            {
                if (!TransmitBurst(queue, pair, state, burst[..count]))
                {
                    return;
                }
            }
        }
        while (IsLive && !queue.Polled && ring.EnableNotificationAndRecheck());
    }

    /// <returns>False when the queue must stop: the backend is busy (chain held) or the device broke or stopped.</returns>
    private bool TransmitBurst(VirtioQueue queue, int pair, TxState state, ReadOnlySpan<DescriptorChain> burst)
    {
        for (int i = 0; i < burst.Length; i++)
        {
            TxOutcome outcome = IsLive ? TransmitChain(queue, pair, state, burst[i]) : TxOutcome.Stopped;
            if (outcome == TxOutcome.Completed)
            {
                continue; // the chains before the first that was not completed are completed in place, not copied
            }

            if (outcome == TxOutcome.Held)
            {
                // The backend took nothing more: the chains popped after the held one go back, newest first.
                for (int j = burst.Length - 1; j > i; j--)
                {
                    queue.Unpop(burst[j]);
                }

                CompleteTx(queue, burst[..i]);
            }
            else if (outcome == TxOutcome.Stopped)
            {
                // No longer live: the rest end their time in flight with the burst (nothing reaches a broken ring).
                CompleteTx(queue, burst);
            }
            else
            {
                // Broken: that chain was given up by DeviceError; the others end their time in flight.
                CompleteTx(queue, burst[..i]);
                CompleteTx(queue, burst[(i + 1)..]);
            }

            return false;
        }

        CompleteTx(queue, burst);
        return true;
    }

    /// <summary>Completes sent or dropped tx chains with one used-ring update; the device writes nothing into them.</summary>
    private static void CompleteTx(VirtioQueue queue, ReadOnlySpan<DescriptorChain> chains)
    {
        if (!chains.IsEmpty)
        {
            queue.CompleteBatch(chains, ZeroLengths.AsSpan(0, chains.Length));
        }
    }

    /// <summary>Sends one chain; a completed (sent or dropped) chain is the caller's to complete with the burst.</summary>
    private TxOutcome TransmitChain(VirtioQueue queue, int pair, TxState state, in DescriptorChain chain)
    {
        if (chain.WritableCount != 0)
        {
            DeviceError(queue, chain, $"virtio-net tx chain {chain.Head} on queue {queue.Index} has {chain.WritableCount} device-writable descriptor(s)");
            return TxOutcome.Broken;
        }

        if (chain.ReadableLength < VirtioNetHeader.Size)
        {
            DeviceError(queue, chain, $"virtio-net header incorrect: tx chain {chain.Head} on queue {queue.Index} has {chain.ReadableLength} byte(s), the header is {VirtioNetHeader.Size}");
            return TxOutcome.Broken;
        }

        long frameLength = chain.ReadableLength - VirtioNetHeader.Size;
        if (frameLength > MaxFrameLength || frameLength < MinFrameLength)
        {
            CountDrop(frameLength > MaxFrameLength ? NetDropReason.Oversize : NetDropReason.Runt, pair, (int)Math.Min(frameLength, int.MaxValue));
            return TxOutcome.Completed;
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
                CountDrop(NetDropReason.ShortRead, pair, length);
                return TxOutcome.Completed; // the burst stops at the next chain: the device is no longer live
            }
        }

        VirtioNetHeader header = VirtioNetHeader.Read(packet); // read once: the guest may change its buffer meanwhile
        if (CheckTxHeader(header, length) is { } problem)
        {
            if (Logger.IsEnabled(LogLevel.Warning))
            {
                NetLog.BadHeader(Logger, Name, pair, problem);
            }

            CountDrop(NetDropReason.BadHeader, pair, length);
            return TxOutcome.Completed;
        }

        if (!LinkIsUp)
        {
            CountDrop(NetDropReason.LinkDown, pair, length); // virtio_net_drop_tx_queue_data
            return TxOutcome.Completed;
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
            return TxOutcome.Held;
        }

        state.Sent.Count(length); // published once the handler run ends (TransmitBatch)
        return TxOutcome.Completed;
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

    /// <summary>The backend can take frames again: kick every tx queue in use so a held chain is retried.</summary>
    private void OnTransmitReady()
    {
        for (int pair = 0; pair < _featurePairs; pair++)
        {
            Notify(TxIndex(pair));
        }
    }

    /// <summary>Per tx queue: the gather buffer, the burst being sent, and the chain the backend refused, if any.</summary>
    private sealed class TxState
    {
        public readonly byte[] Buffer = new byte[VirtioNetHeader.Size + MaxFrameLength];

        /// <summary>The chains of the burst being sent (the handler owns it).</summary>
        public readonly DescriptorChain[] Burst = new DescriptorChain[TxBurst];

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
