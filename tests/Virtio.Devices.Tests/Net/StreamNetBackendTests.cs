using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Sockets;
using Virtio.Devices.Net;

namespace Virtio.Devices.Tests.Net;

/// <summary>The length-prefixed stream backend (QEMU's <c>-netdev stream</c>), over real Unix domain sockets and in-memory pipes.</summary>
public class StreamNetBackendTests
{
    private static readonly TimeSpan Timeout = RecordingFrameSink.Timeout;
    private static readonly int[] Sizes = [14, 60, 1514, 9000, VirtioNetDevice.MaxFrameLength];

    [Fact]
    public async Task Frames_of_every_size_cross_a_unix_socket_intact_and_in_order()
    {
        await using var link = new StreamLink();
        var (sender, receiver, tx, rx) = (link.Left, link.Right, link.LeftSink, link.RightSink);
        int count = Sizes.Length * 3;

        await SendAsync(sender, tx, count, i => Sizes[i % Sizes.Length]);
        await rx.WaitForFramesAsync(count);

        NetTestFrames.AssertSequence(rx.Frames, count, i => Sizes[i % Sizes.Length]);
        long bytes = 3L * Sizes.Sum();
        Assert.Equal((count, bytes), (sender.FramesSent, sender.BytesSent));
        Assert.Equal((count, bytes), (receiver.FramesReceived, receiver.BytesReceived));
        Assert.Equal(0, rx.DropsOffered);
        Assert.False(sender.CarriesHeader);
        Assert.Null(receiver.Error);
    }

    [Fact]
    public async Task Both_ends_send_and_receive_at_the_same_time()
    {
        await using var link = new StreamLink();
        var (left, right, leftSink, rightSink) = (link.Left, link.Right, link.LeftSink, link.RightSink);
        int count = Sizes.Length * 20;
        Func<int, int> leftSizes = i => Sizes[i % Sizes.Length];
        Func<int, int> rightSizes = i => Sizes[(Sizes.Length - 1) - (i % Sizes.Length)];

        await Task.WhenAll(
            Task.Run(() => SendAsync(left, leftSink, count, leftSizes)),
            Task.Run(() => SendAsync(right, rightSink, count, rightSizes)));
        await Task.WhenAll(leftSink.WaitForFramesAsync(count), rightSink.WaitForFramesAsync(count));

        NetTestFrames.AssertSequence(rightSink.Frames, count, leftSizes);
        NetTestFrames.AssertSequence(leftSink.Frames, count, rightSizes);
        Assert.Equal(left.BytesSent, right.BytesReceived);
        Assert.Equal(right.BytesSent, left.BytesReceived);
    }

    [Fact]
    public async Task A_full_device_backlog_holds_the_sender_back_without_dropping_or_reordering()
    {
        await using var link = new StreamLink(recordLeft: false);
        var (sender, receiver, tx, rx) = (link.Left, link.Right, link.LeftSink, link.RightSink);
        rx.Block();

        // ~6 MB: far more than both socket buffers and the reader's buffer hold, so the sender must see Busy.
        const int count = 4000;
        Func<int, int> sizeOf = i => 60 + (i * 7 % 1455);
        var firstBusy = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<int> sending = Task.Run(() => SendAsync(sender, tx, count, sizeOf, firstBusy));

        await firstBusy.Task.WaitAsync(Timeout);
        await rx.FirstRefusal.WaitAsync(Timeout);
        int deliveredWhileBlocked = rx.Count;
        rx.Unblock();
        int busy = await sending.WaitAsync(Timeout);
        await rx.WaitForFramesAsync(count);

        Assert.Equal(0, deliveredWhileBlocked);
        Assert.True(busy > 0, "the sender never saw Busy");
        Assert.Equal(busy, tx.TransmitReadyCalls);
        Assert.True(rx.Refusals > 0);
        NetTestFrames.AssertSequence(rx.Frames, count, sizeOf);
        Assert.Equal(count, receiver.FramesReceived);
        Assert.Equal(0, sender.FramesDiscarded);
    }

    [Fact]
    public async Task A_refused_frame_is_offered_again_until_taken_even_when_ReceiveReady_comes_first()
    {
        await using var peer = new RawStreamPeer();
        var (receiver, rx) = (peer.Backend, peer.Sink);
        rx.RefuseNext(50); // each refusal signals ReceiveReady from another thread, racing the backend's wait
        byte[][] frames = [.. Enumerable.Range(0, 20).Select(i => NetTestFrames.Numbered(i, 100))];

        await peer.Raw.SendAsync(NetTestFrames.OnTheWire(frames));
        await rx.WaitForFramesAsync(frames.Length);

        Assert.Equal(50, rx.Refusals);
        NetTestFrames.AssertSequence(rx.Frames, frames.Length, _ => 100);
    }

    [Fact]
    public async Task Transmits_from_several_threads_arrive_whole_and_in_each_threads_order()
    {
        await using var link = new StreamLink();
        var (sender, receiver, tx, rx) = (link.Left, link.Right, link.LeftSink, link.RightSink);
        const int threads = 4;
        const int perThread = 500;

        // Each thread owns a range of sequence numbers, as a tx queue pair would.
        await Task.WhenAll(Enumerable.Range(0, threads).Select(t => Task.Run(async () =>
        {
            for (int i = 0; i < perThread; i++)
            {
                int sequence = (t * perThread) + i;
                await TransmitAsync(sender, tx, t, NetTestFrames.Numbered(sequence, 60 + (sequence % 3000)));
            }
        })));
        await rx.WaitForFramesAsync(threads * perThread);

        int[] next = new int[threads];
        foreach (byte[] frame in rx.Frames)
        {
            int sequence = NetTestFrames.SequenceOf(frame);
            int thread = sequence / perThread;
            Assert.Equal(NetTestFrames.Numbered(sequence, 60 + (sequence % 3000)), frame);
            Assert.Equal((thread * perThread) + next[thread]++, sequence);
        }

        Assert.All(next, n => Assert.Equal(perThread, n));
    }

    [Fact]
    public async Task Frames_written_by_hand_in_small_pieces_are_delivered_exactly()
    {
        await using var peer = new RawStreamPeer();
        var (receiver, rx) = (peer.Backend, peer.Sink);
        byte[][] frames = [NetTestFrames.Numbered(0, 14), NetTestFrames.Numbered(1, 1514), NetTestFrames.Numbered(2, 65550)];
        byte[] wire = NetTestFrames.OnTheWire(frames);

        // Pieces of 1, 2, 3, ... bytes at first (the length prefix itself is split), then larger ones.
        int offset = 0;
        for (int piece = 1; offset < wire.Length; piece = piece < 16 ? piece + 1 : piece * 2)
        {
            int n = Math.Min(piece, wire.Length - offset);
            Assert.Equal(n, await peer.Raw.SendAsync(wire.AsMemory(offset, n)));
            offset += n;
        }

        await rx.WaitForFramesAsync(frames.Length);

        Assert.Equal(frames, rx.Frames);
        Assert.Null(receiver.Error);
    }

    [Fact]
    public async Task Frames_split_across_many_reads_are_each_delivered_once_whole()
    {
        byte[][] frames = [.. Sizes.Select((size, i) => NetTestFrames.Numbered(i, size))];
        var stream = new TrickleStream(NetTestFrames.OnTheWire(frames), pieceSize: 3);
        await using var receiver = StreamNetBackend.FromStream(stream);
        var rx = new RecordingFrameSink { Backend = receiver };
        receiver.Attach(rx);

        await receiver.Completion.WaitAsync(Timeout);

        Assert.True(stream.Reads > (4 + VirtioNetDevice.MaxFrameLength) / 3, $"only {stream.Reads} reads");
        Assert.Equal(frames, rx.Frames);
        Assert.Null(receiver.Error);
    }

    [Fact]
    public async Task Transmitted_frames_go_out_behind_a_4_byte_big_endian_length()
    {
        await using var peer = new RawStreamPeer();
        var sender = peer.Backend;
        byte[][] frames = [NetTestFrames.Numbered(0, 60), NetTestFrames.Numbered(1, 1514), NetTestFrames.Numbered(2, 300)];

        foreach (byte[] frame in frames)
        {
            Assert.Equal(NetTransmitResult.Sent, sender.Transmit(0, default, frame));
        }

        byte[] prefix = new byte[4];
        foreach (byte[] frame in frames)
        {
            await ReceiveExactlyAsync(peer.Raw, prefix);
            Assert.Equal(frame.Length, BinaryPrimitives.ReadInt32BigEndian(prefix));
            byte[] body = new byte[frame.Length];
            await ReceiveExactlyAsync(peer.Raw, body);
            Assert.Equal(frame, body);
        }

        Assert.Equal(0, peer.Raw.Available);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(65551u)]
    [InlineData(70000u)]
    [InlineData(0xFFFFFFFFu)]
    public async Task A_length_outside_1_to_MaxFrameLength_stops_receiving_with_a_protocol_error(uint length)
    {
        await using var peer = new RawStreamPeer();
        var (receiver, rx) = (peer.Backend, peer.Sink);
        byte[] bad = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bad, length);

        // Only the bad prefix, no body: the error must come from the length alone, with nothing buffered for it.
        await peer.Raw.SendAsync(NetTestFrames.OnTheWire(NetTestFrames.Numbered(0, 60)));
        await peer.Raw.SendAsync(bad);
        await receiver.Completion.WaitAsync(Timeout);

        var error = Assert.IsType<NetStreamProtocolException>(receiver.Error);
        Assert.Equal(length, error.FrameLength);
        Assert.True(receiver.Completion.IsCompletedSuccessfully);
        Assert.Single(rx.Frames);
        Assert.Equal(1, receiver.FramesReceived);

        // Nothing is read past the error, and the send side is unaffected.
        await peer.Raw.SendAsync(NetTestFrames.OnTheWire(NetTestFrames.Numbered(1, 60)));
        Assert.Equal(NetTransmitResult.Sent, receiver.Transmit(0, default, NetTestFrames.Numbered(2, 60)));
        Assert.Single(rx.Frames);
    }

    [Fact]
    public async Task A_stream_that_ends_inside_a_frame_is_a_protocol_error()
    {
        byte[] wire = NetTestFrames.OnTheWire(NetTestFrames.Numbered(0, 100), NetTestFrames.Numbered(1, 100));
        await using var receiver = StreamNetBackend.FromStream(new TrickleStream(wire[..^10], pieceSize: 64));
        var rx = new RecordingFrameSink { Backend = receiver };
        receiver.Attach(rx);

        await receiver.Completion.WaitAsync(Timeout);

        Assert.IsType<NetStreamProtocolException>(receiver.Error);
        Assert.Single(rx.Frames);
    }

    [Fact]
    public async Task The_peer_closing_the_stream_ends_the_loop_cleanly()
    {
        await using var peer = new RawStreamPeer();
        var (receiver, rx) = (peer.Backend, peer.Sink);

        await peer.Raw.SendAsync(NetTestFrames.OnTheWire(NetTestFrames.Numbered(0, 60), NetTestFrames.Numbered(1, 60)));
        peer.Raw.Shutdown(SocketShutdown.Send);
        await receiver.Completion.WaitAsync(Timeout);

        Assert.Null(receiver.Error);
        Assert.Equal(2, receiver.FramesReceived);
        Assert.Equal(2, rx.Count);
    }

    [Fact]
    public async Task Transmit_answers_Busy_while_a_flush_is_pending_and_TransmitReady_follows_it()
    {
        var output = new Pipe(new PipeOptions(pauseWriterThreshold: 1024, resumeWriterThreshold: 512, useSynchronizationContext: false));
        var input = new Pipe();
        await using var backend = new StreamNetBackend(new DuplexPipe(input.Reader, output.Writer));
        var sink = new RecordingFrameSink { Backend = backend };
        backend.Attach(sink);
        byte[] first = NetTestFrames.Numbered(0, 1514);
        byte[] second = NetTestFrames.Numbered(1, 200);

        // 1518 bytes pass the pause threshold: the frame is taken, its flush waits for the reader.
        Task ready = sink.NextTransmitReady;
        Assert.Equal(NetTransmitResult.Sent, backend.Transmit(0, default, first));
        Assert.Equal(NetTransmitResult.Busy, backend.Transmit(0, default, second));
        Assert.Equal(NetTransmitResult.Busy, backend.Transmit(0, default, second));
        Assert.Equal(0, sink.TransmitReadyCalls);

        ReadResult read = await output.Reader.ReadAsync();
        Assert.Equal(NetTestFrames.OnTheWire(first), read.Buffer.ToArray()); // the refused frame was not taken
        output.Reader.AdvanceTo(read.Buffer.End);
        await ready.WaitAsync(Timeout);

        Assert.Equal(NetTransmitResult.Sent, backend.Transmit(0, default, second));
        read = await output.Reader.ReadAsync();
        Assert.Equal(NetTestFrames.OnTheWire(second), read.Buffer.ToArray());
        Assert.Equal(1, sink.TransmitReadyCalls);
        Assert.Equal((2, 1714L), (backend.FramesSent, backend.BytesSent));
    }

    [Fact]
    public async Task Once_the_peer_stops_reading_frames_are_discarded_not_refused()
    {
        var output = new Pipe();
        var input = new Pipe();
        await using var backend = new StreamNetBackend(new DuplexPipe(input.Reader, output.Writer));
        backend.Attach(new RecordingFrameSink { Backend = backend });
        await output.Reader.CompleteAsync();

        Assert.Equal(NetTransmitResult.Sent, backend.Transmit(0, default, NetTestFrames.Numbered(0, 60)));
        Assert.Equal(NetTransmitResult.Sent, backend.Transmit(0, default, NetTestFrames.Numbered(1, 60)));

        Assert.Equal(1, backend.FramesSent); // its flush found the reader gone
        Assert.Equal(1, backend.FramesDiscarded);
        Assert.Null(backend.Error);
    }

    [Fact]
    public async Task DisposeAsync_stops_a_loop_waiting_for_the_device_to_have_room()
    {
        await using var peer = new RawStreamPeer();
        var (receiver, rx) = (peer.Backend, peer.Sink);
        rx.Block();
        await peer.Raw.SendAsync(NetTestFrames.OnTheWire(NetTestFrames.Numbered(0, 60)));
        await rx.FirstRefusal.WaitAsync(Timeout);

        await receiver.DisposeAsync().AsTask().WaitAsync(Timeout);

        Assert.True(receiver.Completion.IsCompletedSuccessfully);
        Assert.Null(receiver.Error);
        Assert.Equal(0, receiver.FramesReceived);
        Assert.Equal(0, await peer.Raw.ReceiveAsync(new byte[1]).WaitAsync(Timeout)); // the socket was closed
    }

    [Fact]
    public async Task DisposeAsync_does_not_wait_for_a_peer_that_stopped_reading()
    {
        await using var peer = new RawStreamPeer(); // its raw end never reads
        byte[] frame = NetTestFrames.Numbered(0, VirtioNetDevice.MaxFrameLength);
        int sent = 0;
        while (peer.Backend.Transmit(0, default, frame) == NetTransmitResult.Sent)
        {
            Assert.True(++sent < 1000, "64 MB went into a socket nobody reads");
        }

        await peer.Backend.DisposeAsync().AsTask().WaitAsync(Timeout);

        Assert.True(sent > 0);
        Assert.True(peer.Backend.Completion.IsCompletedSuccessfully);
        Assert.Equal(NetTransmitResult.Sent, peer.Backend.Transmit(0, default, frame)); // discarded, not refused
        Assert.Equal(1, peer.Backend.FramesDiscarded);
    }

    /// <summary>What a device's tx side does: on Busy, wait for TransmitReady and offer the same frame again.</summary>
    private static async Task<int> SendAsync(
        StreamNetBackend backend, RecordingFrameSink sink, int count, Func<int, int> sizeOf, TaskCompletionSource? firstBusy = null)
    {
        int busy = 0;
        for (int i = 0; i < count; i++)
        {
            busy += await TransmitAsync(backend, sink, 0, NetTestFrames.Numbered(i, sizeOf(i)), firstBusy);
        }

        return busy;
    }

    /// <summary>Transmits one frame, retrying after each TransmitReady while the backend is busy; returns the Busy answers.</summary>
    private static async Task<int> TransmitAsync(
        StreamNetBackend backend, RecordingFrameSink sink, int queuePair, byte[] frame, TaskCompletionSource? onBusy = null)
    {
        for (int busy = 0; ; busy++)
        {
            Task ready = sink.NextTransmitReady;
            if (backend.Transmit(queuePair, default, frame) == NetTransmitResult.Sent)
            {
                return busy;
            }

            onBusy?.TrySetResult();
            await ready.WaitAsync(Timeout);
        }
    }

    private static async Task ReceiveExactlyAsync(Socket socket, byte[] buffer)
    {
        for (int offset = 0; offset < buffer.Length;)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(offset)).AsTask().WaitAsync(Timeout);
            Assert.True(n > 0, "the backend closed the socket");
            offset += n;
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;

        public PipeWriter Output => output;
    }
}
