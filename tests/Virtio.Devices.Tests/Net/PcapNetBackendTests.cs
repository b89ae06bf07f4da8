using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using Virtio.Devices.Net;
using Virtio.Devices.Tests.Support;

namespace Virtio.Devices.Tests.Net;

/// <summary>The pcap tap (QEMU's <c>filter-dump</c>): forwards both ways and writes a libpcap capture.</summary>
public class PcapNetBackendTests
{
    private static readonly DateTimeOffset Start = new(2024, 5, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void The_capture_starts_with_a_libpcap_ethernet_global_header()
    {
        var capture = new MemoryStream();
        new PcapNetBackend(new FakeNetBackend(), capture, leaveOpen: true).Dispose();

        byte[] file = capture.ToArray();
        var pcap = PcapRecords.Parse(file);

        Assert.Equal(24, file.Length);
        Assert.Equal(new byte[] { 0xd4, 0xc3, 0xb2, 0xa1 }, file[..4]); // microsecond magic, little-endian
        Assert.Equal((2, 4), (pcap.VersionMajor, pcap.VersionMinor));
        Assert.Equal((0, 0u), (pcap.ThisZone, pcap.SigFigs));
        Assert.Equal(65535u, pcap.SnapLength);
        Assert.Equal(1u, pcap.LinkType); // LINKTYPE_ETHERNET
        Assert.Empty(pcap.Records);
    }

    [Fact]
    public void Both_directions_are_forwarded_and_captured_in_order_with_the_clock_time()
    {
        var time = new FakeTimeProvider(Start.AddTicks(1_234_567)); // .1234567 s: microseconds truncate to 123456
        var inner = new FakeNetBackend { CarriesHeader = true };
        var device = new RecordingFrameSink();
        var capture = new MemoryStream();
        using var tap = new PcapNetBackend(inner, capture, leaveOpen: true, new PcapNetBackendOptions { TimeProvider = time });
        device.Backend = tap;
        tap.Attach(device);
        byte[] sent = NetTestFrames.Numbered(0, 60);
        byte[] taken = NetTestFrames.Numbered(1, 1514);
        byte[] offered = NetTestFrames.Numbered(2, 9000);

        Assert.Equal(NetTransmitResult.Sent, tap.Transmit(0, default, sent));
        time.Advance(TimeSpan.FromSeconds(1.5));
        Assert.True(inner.Sink!.TryReceive(0, default, taken));
        time.Advance(TimeSpan.FromMicroseconds(1));
        Assert.Equal(NetReceiveResult.Accepted, inner.Sink.Receive(0, default, offered));
        tap.Dispose();

        Assert.True(tap.CarriesHeader);
        Assert.Equal([sent], inner.Sent);
        Assert.Equal([taken, offered], device.Frames);
        uint seconds = (uint)Start.ToUnixTimeSeconds();
        Assert.Equal(
            [(seconds, 123456u, sent), (seconds + 1, 623456u, taken), (seconds + 1, 623457u, offered)],
            PcapRecords.Parse(capture.ToArray()).Records.Select(r => (r.Seconds, r.Microseconds, r.Data)));
        Assert.All(PcapRecords.Parse(capture.ToArray()).Records, r => Assert.Equal(r.OriginalLength, r.IncludedLength));
        Assert.Equal(3, tap.FramesCaptured);
    }

    [Fact]
    public void A_reply_the_inner_backend_delivers_during_transmit_is_captured_after_the_frame_that_caused_it()
    {
        var time = new FakeTimeProvider(Start);
        var inner = new AnsweringBackend(time);
        var device = new RecordingFrameSink();
        var capture = new MemoryStream();
        using var tap = new PcapNetBackend(inner, capture, leaveOpen: true, new PcapNetBackendOptions { TimeProvider = time });
        device.Backend = tap;
        tap.Attach(device);
        byte[] request = NetTestFrames.Numbered(0, 60), later = NetTestFrames.Numbered(5, 60);

        Assert.Equal(NetTransmitResult.Sent, tap.Transmit(0, default, request));
        Assert.Equal(NetReceiveResult.Accepted, inner.Sink!.Receive(0, default, later)); // not during a transmit: at once
        tap.Flush();

        byte[] reply = AnsweringBackend.Reply(request);
        Assert.Equal([reply, later], device.Frames);
        var records = PcapRecords.Parse(capture.ToArray()).Records;
        Assert.Equal([request, reply, later], records.Select(r => r.Data));
        uint seconds = (uint)Start.ToUnixTimeSeconds();
        Assert.Equal([(seconds, 0u), (seconds, 5u), (seconds, 5u)], records.Select(r => (r.Seconds, r.Microseconds))); // the reply keeps its arrival time
    }

    [Fact]
    public void A_frame_refused_on_either_side_is_captured_once_when_it_is_taken()
    {
        var inner = new FakeNetBackend();
        var device = new RecordingFrameSink();
        var capture = new MemoryStream();
        using var tap = new PcapNetBackend(inner, capture, leaveOpen: true);
        device.Backend = tap;
        tap.Attach(device);
        byte[] sent = NetTestFrames.Numbered(0, 60);
        byte[] received = NetTestFrames.Numbered(1, 60);

        inner.BusyNext(1);
        Assert.Equal(NetTransmitResult.Busy, tap.Transmit(0, default, sent));
        Assert.Equal(NetTransmitResult.Sent, tap.Transmit(0, default, sent));
        device.RefuseNext(1);
        Assert.False(inner.Sink!.TryReceive(0, default, received));
        Assert.True(inner.Sink.TryReceive(0, default, received));
        tap.Flush();

        Assert.Equal([sent, received], PcapRecords.Parse(capture.ToArray()).Records.Select(r => r.Data));
        Assert.True(SpinWait.SpinUntil(() => inner.ReceiveReadyCalls == 1, RecordingFrameSink.Timeout), "ReceiveReady was not forwarded");
    }

    [Theory]
    [InlineData(65535, 65550)]
    [InlineData(100, 1514)]
    public void Frames_longer_than_the_snap_length_are_cut_and_keep_their_full_length(int snapLength, int frameLength)
    {
        var capture = new MemoryStream();
        var inner = new FakeNetBackend();
        using (var tap = new PcapNetBackend(inner, capture, leaveOpen: true, new PcapNetBackendOptions { SnapLength = snapLength }))
        {
            tap.Transmit(0, default, NetTestFrames.Numbered(0, frameLength));
            tap.Transmit(0, default, NetTestFrames.Numbered(1, 60));
        }

        var pcap = PcapRecords.Parse(capture.ToArray());

        Assert.Equal((uint)snapLength, pcap.SnapLength);
        Assert.Equal([((uint)snapLength, (uint)frameLength), (60u, 60u)], pcap.Records.Select(r => (r.IncludedLength, r.OriginalLength)));
        Assert.Equal(NetTestFrames.Numbered(0, frameLength)[..snapLength], pcap.Records[0].Data);
        Assert.Equal(frameLength, inner.Sent[0].Length); // the data path is not cut
    }

    [Fact]
    public void Dispose_flushes_the_file_and_leaves_a_stream_open_only_when_asked()
    {
        using var file = new TempFile();
        using (var tap = new PcapNetBackend(new FakeNetBackend(), file.Path))
        {
            tap.Transmit(0, default, NetTestFrames.Numbered(0, 60));
            tap.Transmit(0, default, NetTestFrames.Numbered(1, 60));
        }

        var kept = new MemoryStream();
        new PcapNetBackend(new FakeNetBackend(), kept, leaveOpen: true).Dispose();
        var closed = new MemoryStream();
        new PcapNetBackend(new FakeNetBackend(), closed).Dispose();

        Assert.Equal(2, PcapRecords.Parse(File.ReadAllBytes(file.Path)).Records.Count);
        Assert.True(kept.CanWrite);
        Assert.False(closed.CanWrite);
    }

    [Fact]
    public void A_capture_write_error_stops_capturing_but_never_the_data_path()
    {
        var inner = new FakeNetBackend();
        var device = new RecordingFrameSink();
        var capture = new FailingStream(failAfter: 24 + 16 + 60 + 10); // the header, one record, then the disk is full
        using var tap = new PcapNetBackend(inner, capture);
        device.Backend = tap;
        tap.Attach(device);

        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(NetTransmitResult.Sent, tap.Transmit(0, default, NetTestFrames.Numbered(i, 60)));
        }

        Assert.True(inner.Sink!.TryReceive(0, default, NetTestFrames.Numbered(4, 60)));

        Assert.Equal(4, inner.Sent.Count);
        Assert.Single(device.Frames);
        Assert.IsType<IOException>(tap.CaptureError);
        Assert.Equal(1, tap.FramesCaptured);
        Assert.Equal(4, tap.FramesNotCaptured);
        Assert.True(capture.Disposed, "the failed capture was not closed");
    }

    [Fact]
    public void Options_and_attach_are_checked()
    {
        var inner = new FakeNetBackend();
        Assert.Throws<ArgumentOutOfRangeException>(() => new PcapNetBackend(inner, new MemoryStream(), options: new() { SnapLength = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(
            () => new PcapNetBackend(inner, new MemoryStream(), options: new() { SnapLength = PcapNetBackendOptions.MaxSnapLength + 1 }));
        using var tap = new PcapNetBackend(inner, new MemoryStream());
        tap.Attach(new RecordingFrameSink());
        Assert.Throws<InvalidOperationException>(() => tap.Attach(new RecordingFrameSink()));
    }

    [Fact]
    public async Task Tapping_a_stream_backend_captures_both_directions_of_a_real_socket()
    {
        using var sockets = new UnixSocketPair();
        await using var left = StreamNetBackend.FromSocket(sockets.Left);
        await using var right = StreamNetBackend.FromSocket(sockets.Right);
        var capture = new MemoryStream();
        using var tap = new PcapNetBackend(left, capture, leaveOpen: true);
        var leftSink = new RecordingFrameSink { Backend = tap };
        var rightSink = new RecordingFrameSink { Backend = right };
        tap.Attach(leftSink); // attaches the stream backend to the tap's capturing sink
        right.Attach(rightSink);
        byte[] outbound = NetTestFrames.Numbered(0, 1514);
        byte[] inbound = NetTestFrames.Numbered(1, 9000);

        Assert.Equal(NetTransmitResult.Sent, tap.Transmit(0, default, outbound));
        await rightSink.WaitForFramesAsync(1);
        Assert.Equal(NetTransmitResult.Sent, right.Transmit(0, default, inbound));
        await leftSink.WaitForFramesAsync(1);
        tap.Dispose();

        Assert.False(tap.CarriesHeader);
        Assert.Equal([outbound], rightSink.Frames);
        Assert.Equal([inbound], leftSink.Frames);
        Assert.Equal([outbound, inbound], PcapRecords.Parse(capture.ToArray()).Records.Select(r => r.Data));
    }

    [Fact]
    public void Tshark_reads_every_frame_of_the_capture_with_its_length()
    {
        string tshark = FindOnPath("tshark")
            ?? throw new InvalidOperationException(
                "tshark is not installed: run `apt-get install tshark` (.ci/run installs it when missing)");
        using var file = new TempFile();
        int[] lengths = [60, 1514, 9000, VirtioNetDevice.MaxFrameLength];
        var inner = new FakeNetBackend();
        using (var tap = new PcapNetBackend(inner, file.Path))
        {
            tap.Attach(new RecordingFrameSink { Backend = tap });
            for (int i = 0; i < lengths.Length; i++)
            {
                byte[] frame = NetTestFrames.Numbered(i, lengths[i]);
                if (i % 2 == 0)
                {
                    tap.Transmit(0, default, frame);
                }
                else
                {
                    Assert.True(inner.Sink!.TryReceive(0, default, frame));
                }
            }
        }

        var start = new ProcessStartInfo(tshark) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in new[] { "-r", file.Path, "-T", "fields", "-e", "frame.len", "-e", "frame.cap_len" })
        {
            start.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(start)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync(); // root warnings and the like: not checked
        string output = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(30_000), "tshark did not finish");

        Assert.True(process.ExitCode == 0, $"tshark failed ({process.ExitCode}): {stderr.Result}");
        Assert.Equal(
            ["60\t60", "1514\t1514", "9000\t9000", "65550\t65535"],
            output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);

    /// <summary>A capture destination that fails once more than <c>failAfter</c> bytes were written (a full disk).</summary>
    private sealed class FailingStream(int failAfter) : MemoryStream
    {
        public bool Disposed { get; private set; }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (Length + buffer.Length > failAfter)
            {
                throw new IOException("No space left on device");
            }

            base.Write(buffer);
        }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }

    /// <summary>A peer that answers every frame before Transmit returns, 5 µs later, as a synchronous loopback or pair does.</summary>
    private sealed class AnsweringBackend(FakeTimeProvider time) : INetBackend
    {
        public INetFrameSink? Sink { get; private set; }

        public bool CarriesHeader => false;

        public static byte[] Reply(byte[] frame) => [.. frame.Select(b => (byte)~b)];

        public void Attach(INetFrameSink sink) => Sink = sink;

        public NetTransmitResult Transmit(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
        {
            time.Advance(TimeSpan.FromMicroseconds(5));
            Sink!.Receive(queuePair, default, Reply(frame.ToArray()));
            return NetTransmitResult.Sent;
        }

        public void ReceiveReady()
        {
        }
    }
}
