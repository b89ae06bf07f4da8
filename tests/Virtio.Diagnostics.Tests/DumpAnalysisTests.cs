using Virtio.Testing;
using System.Text.Json;
using Virtio.Diagnostics.Tests.Support;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Diagnostics.Tests;

public sealed class DumpAnalysisTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("virtio-analyze-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void The_real_device_status_shows_event_idx_in_the_guest_features()
    {
        Assert.Equal((true, false), DumpAnalysis.ParseVirtioStatus(Reference.VirtioStatusJson));
        string without = Reference.VirtioStatusJson.Replace("\"VIRTIO_RING_F_EVENT_IDX: Used & avail. event fields enabled\",\n        \"VIRTIO_RING_F_INDIRECT_DESC", "\"VIRTIO_RING_F_INDIRECT_DESC", StringComparison.Ordinal);
        Assert.NotEqual(Reference.VirtioStatusJson, without);
        Assert.Equal((false, false), DumpAnalysis.ParseVirtioStatus(without)); // host-features still offer it: only the driver's count
    }

    [Fact]
    public void A_device_status_without_guest_features_is_a_missing_field()
    {
        DiagnosticInputException e = Assert.Throws<DiagnosticInputException>(() => DumpAnalysis.ParseVirtioStatus("{\"return\": {\"name\": \"virtio-blk\"}}"));
        Assert.Equal(DiagnosticInputErrorKind.MissingField, e.Kind);
        Assert.Contains("guest-features", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_dump_reads_the_same_guest_fields_as_the_live_queue()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.RoundTrip(1);
        ring.AddRequest(2);
        Assert.True(ring.Device.ReadGuestFields(out GuestRingFields live));
        using var dump = new MemoryStream();
        ring.Memory.Dump(dump);
        dump.Position = 0;
        using GuestMemory loaded = GuestMemory.FromDump(dump);
        Assert.Equal(live, DumpAnalysis.ReadGuestFields(loaded, QueueStatus.Capture(ring.Device, "virtio-blk"), eventIdx: true));
    }

    [Fact]
    public void A_stream_dump_with_a_shifted_base_is_analysed()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.AddRequest(1);
        using var dump = new MemoryStream();
        ring.Memory.Dump(dump, 0x1000, 0x10_0000); // the rings start at 0x1000
        dump.Position = 0;
        HangReport r = DumpAnalysis.Analyze(dump, 0x1000, QueueStatus.Capture(ring.Device, "virtio-blk").ToJson(), eventIdx: true);
        Assert.Equal(HangVerdict.DeviceMissedKick, r.Verdict);
    }

    [Fact]
    public void Each_bad_input_has_its_own_error_kind()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        QueueStatus s = QueueStatus.Capture(ring.Device, "virtio-blk");
        var bytes = new byte[RingPlacement.Small.MemorySize];
        Assert.Equal(DiagnosticInputErrorKind.DumpTruncated, Kind(() => DumpAnalysis.Analyze(new MemoryStream(bytes, 0, (int)ring.Layout.AvailRing + 2), 0, s.ToJson(), eventIdx: true)));
        Assert.Equal(DiagnosticInputErrorKind.DumpTruncated, Kind(() => DumpAnalysis.Analyze(new MemoryStream([]), 0, s.ToJson())));
        Assert.Equal(DiagnosticInputErrorKind.RingOutsideDump, Kind(() => DumpAnalysis.Analyze(new MemoryStream(bytes), 0x1_0000_0000, s.ToJson())));
        Assert.Equal(DiagnosticInputErrorKind.InvalidQueueSize, Kind(() => DumpAnalysis.Analyze(new MemoryStream(bytes), 0, (s with { VringNum = 0 }).ToJson())));
        Assert.Equal(DiagnosticInputErrorKind.MalformedJson, Kind(() => DumpAnalysis.Analyze(new MemoryStream(bytes), 0, "{")));
        Assert.Equal(DiagnosticInputErrorKind.MissingField, Kind(() => DumpAnalysis.Analyze(new MemoryStream(bytes), 0, "{}")));
        Assert.Equal(DiagnosticInputErrorKind.FileUnreadable, Kind(() => DumpAnalysis.AnalyzeFiles(Path.Combine(_dir, "none"), 0, Path.Combine(_dir, "none.json"))));
    }

    private static DiagnosticInputErrorKind Kind(Action action) => Assert.Throws<DiagnosticInputException>(action).Kind;
}
