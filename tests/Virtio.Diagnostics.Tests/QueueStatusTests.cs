using System.Text.Json;
using Virtio.Diagnostics.Tests.Support;
using Virtio.Driver;
using Virtio.Rings;
using Virtio.Testing;

namespace Virtio.Diagnostics.Tests;

public class QueueStatusTests
{
    private static QueueStatus ReferenceStatus => new()
    {
        Name = "virtio-blk",
        QueueIndex = 0,
        InUse = 0,
        VringNum = 256,
        VringNumDefault = 256,
        VringAlign = 4096,
        VringDesc = 0x2a00000,
        VringAvail = 0x2a01000,
        VringUsed = 0x2a01240,
        LastAvailIdx = 17,
        ShadowAvailIdx = 17,
        UsedIdx = 17,
        SignalledUsed = 17,
        SignalledUsedValid = true,
    };

    [Fact]
    public void Hmp_text_matches_the_real_info_virtio_queue_status_byte_for_byte() =>
        Assert.Equal(Reference.HmpQueueStatus, ReferenceStatus.ToHmpText(Reference.QomPath));

    [Fact]
    public void The_real_qmp_reply_parses_and_prints_as_the_real_hmp_text() =>
        Assert.Equal(Reference.HmpQueueStatus, QueueStatus.Parse(Reference.QueueStatusJson).ToHmpText(Reference.QomPath));

    [Fact]
    public void The_real_qmp_reply_parses_to_every_field()
    {
        Assert.Equal(ReferenceStatus, QueueStatus.Parse(Reference.QueueStatusJson));
    }

    [Fact]
    public void A_bare_object_parses_like_the_wrapped_reply()
    {
        using JsonDocument reply = JsonDocument.Parse(Reference.QueueStatusJson);
        string bare = reply.RootElement.GetProperty("return").GetRawText();
        Assert.Equal(ReferenceStatus, QueueStatus.Parse(bare));
    }

    [Fact]
    public void Json_has_the_field_names_and_value_kinds_of_the_real_reply()
    {
        using JsonDocument real = JsonDocument.Parse(Reference.QueueStatusJson);
        using JsonDocument ours = JsonDocument.Parse(ReferenceStatus.ToQmpReplyJson());
        AssertSameShape(real.RootElement, ours.RootElement);
        Assert.Equal(JsonValueKind.True, ours.RootElement.GetProperty("return").GetProperty("signalled-used-valid").ValueKind);
        Assert.Equal(44040192UL, ours.RootElement.GetProperty("return").GetProperty("vring-desc").GetUInt64());
    }

    [Fact]
    public void Bare_json_is_the_return_member_of_the_reply()
    {
        using JsonDocument bare = JsonDocument.Parse(ReferenceStatus.ToJson());
        using JsonDocument reply = JsonDocument.Parse(ReferenceStatus.ToQmpReplyJson(indented: true));
        Assert.True(JsonElement.DeepEquals(bare.RootElement, reply.RootElement.GetProperty("return")));
        Assert.Equal(ReferenceStatus, QueueStatus.Parse(ReferenceStatus.ToJson()));
    }

    [Theory]
    [InlineData("{\"return\": {\"name\": \"virtio-blk\"}}", DiagnosticInputErrorKind.MissingField)]
    [InlineData("{\"return\": ", DiagnosticInputErrorKind.MalformedJson)]
    [InlineData("not json", DiagnosticInputErrorKind.MalformedJson)]
    [InlineData("[1, 2]", DiagnosticInputErrorKind.MalformedJson)]
    [InlineData("{\"return\": 5}", DiagnosticInputErrorKind.MalformedJson)]
    [InlineData("{\"error\": {\"class\": \"GenericError\", \"desc\": \"Path /x is not a VirtIODevice\"}}", DiagnosticInputErrorKind.QmpError)]
    public void Unusable_text_is_refused_with_a_typed_error(string json, DiagnosticInputErrorKind kind)
    {
        DiagnosticInputException e = Assert.Throws<DiagnosticInputException>(() => QueueStatus.Parse(json));
        Assert.Equal(kind, e.Kind);
    }

    [Theory]
    [InlineData("\"used-idx\": 17", "\"used-idx\": \"17\"")]
    [InlineData("\"used-idx\": 17", "\"used-idx\": 70000")]
    [InlineData("\"inuse\": 0", "\"inuse\": -1")]
    [InlineData("\"signalled-used-valid\": true", "\"signalled-used-valid\": 1")]
    public void A_value_of_the_wrong_type_or_out_of_its_qapi_range_is_malformed(string field, string replacement)
    {
        string json = Reference.QueueStatusJson.Replace(field, replacement, StringComparison.Ordinal);
        Assert.NotEqual(Reference.QueueStatusJson, json);
        Assert.Equal(DiagnosticInputErrorKind.MalformedJson, Assert.Throws<DiagnosticInputException>(() => QueueStatus.Parse(json)).Kind);
    }

    [Fact]
    public void A_missing_field_is_named_in_the_error()
    {
        string json = Reference.QueueStatusJson.Replace("\"last-avail-idx\": 17,", string.Empty, StringComparison.Ordinal);
        DiagnosticInputException e = Assert.Throws<DiagnosticInputException>(() => QueueStatus.Parse(json));
        Assert.Equal(DiagnosticInputErrorKind.MissingField, e.Kind);
        Assert.Contains("last-avail-idx", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Capture_reports_the_queue_as_qemu_does()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.RoundTrip(1);
        ring.AddRequest(2);
        ring.Device.Pop(out _);
        QueueStatus s = QueueStatus.Capture(ring.Device, "virtio-blk");
        Assert.Equal(("virtio-blk", (ushort)0, 1u, 8u, 256u, 4096u), (s.Name, s.QueueIndex, s.InUse, s.VringNum, s.VringNumDefault, s.VringAlign));
        Assert.Equal((ring.Layout.DescriptorTable, ring.Layout.AvailRing, ring.Layout.UsedRing), (s.VringDesc, s.VringAvail, s.VringUsed));
        Assert.Equal(((ushort)2, (ushort)2, (ushort)1, true), (s.LastAvailIdx, s.ShadowAvailIdx, s.UsedIdx, s.SignalledUsedValid));
    }

    [Fact]
    public void Capture_changes_neither_the_queue_nor_guest_ram()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.RoundTrip(1);
        ring.AddRequest(2);
        ring.AddRequest(3);
        ring.Device.Pop(out _);
        SplitQueueState before = ring.Device.GetState();
        byte[] ramBefore = ring.RingBytes();

        QueueStatus.Capture(ring.Device, "virtio-blk");
        HangAnalysis.Analyze(ring.Device);
        Assert.True(QueueElement.TryRead(ring.Device, null, out _, out _));

        Assert.Equal(before, ring.Device.GetState());
        Assert.Equal(ramBefore, ring.RingBytes());
    }

    [Fact]
    public void Snapshots_taken_while_the_ring_runs_allocate_nothing_on_the_ring_thread()
    {
        using var ring = new RingHarness(size: 64, placement: RingPlacement.Small, name: "virtio-blk");
        GuestSegment[] readable = [ring.Buffer(16)];
        GuestSegment[] writable = [ring.Buffer(512), ring.Buffer(1)];
        long ringAllocated = -1;
        int bad = 0;
        bool done = false;

        void Loop(int n)
        {
            for (int i = 0; i < n; i++)
            {
                bad += ring.Driver.Add(readable, writable, i) == AddResult.Added ? 0 : 1;
                ring.Driver.KickPrepare();
                if (ring.Device.Pop(out DescriptorChain chain) != PopResult.Chain)
                {
                    bad++;
                    continue;
                }

                ring.Device.Push(chain, 1);
                ring.Device.ShouldNotify();
                bad += ring.Driver.TryGetBuffer(out _, out _) ? 0 : 1;
            }
        }

        var worker = new Thread(() =>
        {
            Loop(1000);
            ringAllocated = SteadyState.AllocatedBytes(() => Loop(200_000));
            Volatile.Write(ref done, true);
        });
        worker.Start();

        // A snapshot of a moving queue may mix moments (the device's fields are not read atomically together), so
        // its numbers are not checked here: only that taking it costs the ring thread nothing and never throws.
        int snapshots = 0;
        uint sizes = 0;
        try
        {
            while (!Volatile.Read(ref done) || snapshots == 0)
            {
                sizes |= QueueStatus.Capture(ring.Device, "virtio-blk").VringNum;
                HangAnalysis.Analyze(ring.Device);
                snapshots++;
            }
        }
        finally
        {
            Assert.True(worker.Join(TimeSpan.FromSeconds(30))); // never free the ring under the running thread
        }

        Assert.Equal(64u, sizes);
        Assert.Equal(0, bad);
        Assert.Equal(0, ringAllocated);
        Assert.True(snapshots > 0);
    }

    internal static void AssertSameShape(JsonElement expected, JsonElement actual)
    {
        Assert.Equal(expected.ValueKind is JsonValueKind.True or JsonValueKind.False ? JsonValueKind.True : expected.ValueKind,
            actual.ValueKind is JsonValueKind.True or JsonValueKind.False ? JsonValueKind.True : actual.ValueKind);
        if (expected.ValueKind == JsonValueKind.Object)
        {
            Assert.Equal(
                expected.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal),
                actual.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
            foreach (JsonProperty p in expected.EnumerateObject())
            {
                AssertSameShape(p.Value, actual.GetProperty(p.Name));
            }
        }
        else if (expected.ValueKind == JsonValueKind.Array && expected.GetArrayLength() > 0 && actual.GetArrayLength() > 0)
        {
            AssertSameShape(expected[0], actual[0]);
        }
    }
}
