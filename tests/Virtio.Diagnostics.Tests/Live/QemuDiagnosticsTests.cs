using System.Text.Json;
using Virtio.Diagnostics.Live;
using Virtio.Diagnostics.Qmp;
using Virtio.Diagnostics.Tests.Support;

namespace Virtio.Diagnostics.Tests.Live;

/// <summary>The live diagnosis against a scripted QMP server answering with QEMU 7.2's replies for a stuck virtio-net tx queue.</summary>
public class QemuDiagnosticsTests
{
    private static readonly QmpClientOptions ClientOptions = new() { CommandTimeout = TimeSpan.FromSeconds(20) };
    private static readonly QemuDiagnosisOptions NetOnly = new() { Path = LiveReference.NetPath, Interval = TimeSpan.Zero };

    // net0 as captured (Reference/live/README.md): rx with the guest's 256 posted buffers unread (shadow 0 before the
    // element query), tx holding one element behind 203 unread buffers, ctrl idle.
    internal static FakeQmpServer StuckNet(string? virtioStatus = null, string? rxStatus = null)
    {
        FakeQmpServer server = FakeQmpServer.StartUnix();
        server.Script("query-commands", LiveReference.Line("query-commands.json"));
        server.Script("x-query-virtio", LiveReference.Line("x-query-virtio.json"));
        server.Script($"x-query-virtio-status {LiveReference.NetPath}", virtioStatus ?? LiveReference.Line("net-virtio-status.json"));
        string rx = rxStatus ?? LiveReference.Line("net-queue-status-0.json").Replace("\"shadow-avail-idx\": 256", "\"shadow-avail-idx\": 0", StringComparison.Ordinal);
        server.Script($"x-query-virtio-queue-status {LiveReference.NetPath} 0", rx);
        server.Script($"x-query-virtio-queue-status {LiveReference.NetPath} 1", LiveReference.Line("net-queue-status-1.json"));
        server.Script($"x-query-virtio-queue-status {LiveReference.NetPath} 2", LiveReference.Line("net-queue-status-2.json"));
        server.Script($"x-query-virtio-queue-element {LiveReference.NetPath} 1 132", LiveReference.Line("net-tx-queue-element-132.json"));
        SetRing(server, "net-queue-status-0.json", avail: 256, usedEvent: 0, used: 0, availEvent: 0);
        SetRing(server, "net-queue-status-1.json", avail: 336, usedEvent: 284, used: 132, availEvent: 132);
        SetRing(server, "net-queue-status-2.json", avail: 9, usedEvent: 0, used: 9, availEvent: 9);
        return server;
    }

    private static void SetRing(FakeQmpServer server, string statusFile, ushort avail, ushort usedEvent, ushort used, ushort availEvent)
    {
        QueueStatus s = QueueStatus.Parse(LiveReference.Line(statusFile));
        server.Ram[s.VringAvail + 2] = avail;
        server.Ram[s.VringAvail + 4 + (2 * (ulong)s.VringNum)] = usedEvent;
        server.Ram[s.VringUsed + 2] = used;
        server.Ram[s.VringUsed + 4 + (8 * (ulong)s.VringNum)] = availEvent;
    }

    private static async Task<QemuDiagnosis> DiagnoseAsync(FakeQmpServer server, QemuDiagnosisOptions? options = null)
    {
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, ClientOptions);
        return await new QemuDiagnostics(client, options ?? NetOnly).DiagnoseAsync();
    }

    [Fact]
    public async Task A_net_tx_queue_holding_an_element_is_device_stuck_while_rx_and_ctrl_are_healthy()
    {
        await using FakeQmpServer server = StuckNet();
        QemuDiagnosis d = await DiagnoseAsync(server);
        QueueDiagnosis[] q = d.Queues.ToArray();
        Assert.Equal(["rx 0", "tx 0", "ctrl"], q.Select(x => x.Role));
        Assert.Equal([HangVerdict.Healthy, HangVerdict.DeviceStuck, HangVerdict.Healthy], q.Select(x => x.Verdict));
        Assert.True(d.HasHang);
        Assert.StartsWith($"{LiveReference.NetPath} queue 1 (virtio-net tx 0): device-stuck: 1 request(s) held", q[1].Summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stuck_queue_lists_the_element_candidates_between_used_idx_and_last_avail_idx()
    {
        await using FakeQmpServer server = StuckNet();
        QueueDiagnosis tx = (await DiagnoseAsync(server)).Queues.Single(x => x.QueueIndex == 1);
        QemuQueueElement e = Assert.Single(tx.Candidates);
        Assert.Equal(((ushort)132, 2u), (e.Position, e.Head));
        Assert.Contains("candidates", tx.ToText(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Elements_are_queried_only_after_every_queue_status_and_ring_read()
    {
        await using FakeQmpServer server = StuckNet();
        await DiagnoseAsync(server);
        string[] received = server.Received.ToArray();
        int firstElement = Array.FindIndex(received, r => r.StartsWith("x-query-virtio-queue-element", StringComparison.Ordinal));
        int lastRead = Array.FindLastIndex(received, r => r.StartsWith("x-query-virtio-queue-status", StringComparison.Ordinal) || r.StartsWith("human-monitor-command xp", StringComparison.Ordinal));
        Assert.True(firstElement > lastRead, string.Join("\n", received));
    }

    [Fact]
    public async Task A_queue_that_moved_between_the_readings_is_progressing_not_stuck()
    {
        await using FakeQmpServer server = StuckNet();
        string first = LiveReference.Line("net-queue-status-1.json");
        string later = first.Replace("\"last-avail-idx\": 133", "\"last-avail-idx\": 140", StringComparison.Ordinal).Replace("\"used-idx\": 132", "\"used-idx\": 139", StringComparison.Ordinal)
            .Replace("\"shadow-avail-idx\": 133", "\"shadow-avail-idx\": 140", StringComparison.Ordinal);
        server.Script($"x-query-virtio-queue-status {LiveReference.NetPath} 1", first, later);
        QemuDiagnosis d = await DiagnoseAsync(server);
        QueueDiagnosis tx = d.Queues.Single(x => x.QueueIndex == 1);
        Assert.Equal(HangVerdict.Progressing, tx.Verdict);
        Assert.Equal("last_avail_idx 133 -> 140, used_idx 132 -> 139", tx.Progress);
        Assert.Empty(tx.Candidates);
        Assert.False(d.HasHang);
        Assert.DoesNotContain(server.Received, r => r.StartsWith("x-query-virtio-queue-element", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_vhost_device_is_never_asked_for_its_queue_status()
    {
        string vhost = LiveReference.Line("net-virtio-status.json").Replace("\"vhost-started\": false", "\"vhost-started\": true", StringComparison.Ordinal);
        await using FakeQmpServer server = StuckNet(virtioStatus: vhost);
        foreach (int q in new[] { 0, 1, 2 })
        {
            QueueStatus s = QueueStatus.Parse(LiveReference.Line($"net-queue-status-{q}.json"));
            server.Script($"x-query-virtio-vhost-queue-status {LiveReference.NetPath} {q}", FormattableString.Invariant(
                $"{{\"return\": {{\"avail-phys\": {s.VringAvail}, \"name\": \"virtio-net\", \"used-phys\": {s.VringUsed}, \"avail-size\": 518, \"desc-phys\": {s.VringDesc}, \"desc-size\": 4096, \"used-size\": 2054, \"desc\": 140000000000000, \"avail\": 140000000004096, \"used\": 140000000008192, \"kick\": 0, \"call\": 0, \"num\": {s.VringNum}}}}}"));
        }

        QemuDiagnosis d = await DiagnoseAsync(server);
        Assert.DoesNotContain(server.Received, r => r.StartsWith("x-query-virtio-queue-status", StringComparison.Ordinal));
        Assert.All(d.Queues, q => Assert.Null(q.Verdict));
        Assert.All(d.Queues, q => Assert.Contains("vhost", q.Note, StringComparison.Ordinal));
        Assert.Equal(336, d.Queues.Single(q => q.QueueIndex == 1).Second.Guest.AvailIdx);
        Assert.False(d.HasHang);
    }

    [Fact]
    public async Task A_device_with_access_platform_is_refused_because_its_ring_addresses_are_iovas()
    {
        string iommu = LiveReference.Line("net-virtio-status.json").Replace(
            "\"VIRTIO_F_VERSION_1: Device compliant for v1 spec (legacy)\"",
            "\"VIRTIO_F_VERSION_1: Device compliant for v1 spec (legacy)\", \"VIRTIO_F_IOMMU_PLATFORM: Device can be used on IOMMU platform\"",
            StringComparison.Ordinal);
        Assert.NotEqual(LiveReference.Line("net-virtio-status.json"), iommu);
        await using FakeQmpServer server = StuckNet(virtioStatus: iommu);
        QemuDiagnosis d = await DiagnoseAsync(server);
        DeviceDiagnosis device = Assert.Single(d.Devices);
        Assert.Contains("IOVA", device.Refusal, StringComparison.Ordinal);
        Assert.Empty(device.Queues);
        Assert.True(d.HasRefusal);
        Assert.DoesNotContain(server.Received, r => r.StartsWith("human-monitor-command", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_queue_the_driver_never_set_up_is_not_read_and_not_a_hang()
    {
        await using FakeQmpServer server = StuckNet();
        string unset = LiveReference.Line("net-queue-status-2.json")
            .Replace("\"vring-desc\": 42176512", "\"vring-desc\": 0", StringComparison.Ordinal)
            .Replace("\"vring-avail\": 42177536", "\"vring-avail\": 0", StringComparison.Ordinal)
            .Replace("\"vring-used\": 42177728", "\"vring-used\": 0", StringComparison.Ordinal);
        Assert.False(QueueReading.HasRings(QueueStatus.Parse(unset)));
        server.Script($"x-query-virtio-queue-status {LiveReference.NetPath} 2", unset);
        QueueDiagnosis ctrl = (await DiagnoseAsync(server)).Queues.Single(q => q.QueueIndex == 2);
        Assert.Null(ctrl.Verdict);
        Assert.EndsWith("not set up (vring-desc, vring-avail and vring-used are 0)", ctrl.Summary, StringComparison.Ordinal);
        Assert.DoesNotContain(server.Received, r => r.StartsWith("human-monitor-command xp /2hx 0x0", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_path_x_query_virtio_does_not_list_is_an_error_naming_the_devices_it_does()
    {
        await using FakeQmpServer server = StuckNet();
        QmpException e = await Assert.ThrowsAsync<QmpException>(() => DiagnoseAsync(server, new QemuDiagnosisOptions { Path = "/machine/peripheral/nope", Interval = TimeSpan.Zero }));
        Assert.Contains(LiveReference.BlkPath, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watch_queries_the_elements_of_a_stuck_queue_once_per_episode()
    {
        await using FakeQmpServer server = StuckNet();
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, ClientOptions);
        int rounds = 0;
        await foreach (QemuDiagnosis d in new QemuDiagnostics(client, NetOnly).WatchAsync())
        {
            Assert.Equal(HangVerdict.DeviceStuck, d.Queues.Single(q => q.QueueIndex == 1).Verdict);
            if (++rounds == 3)
            {
                break;
            }
        }

        Assert.Equal(1, server.Received.Count(r => r.StartsWith("x-query-virtio-queue-element", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Watch_changes_hands_every_queue_on_the_first_round_then_only_changed_verdicts_and_returns_the_last_round()
    {
        await using FakeQmpServer server = StuckNet();
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, ClientOptions);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var handed = new List<int>();
        QemuDiagnosis? last = await new QemuDiagnostics(client, NetOnly).WatchChangesAsync(
            (changed, _) =>
            {
                handed.Add(changed.Count);
                if (handed.Count == 3)
                {
                    stop.Cancel();
                }

                return Task.CompletedTask;
            },
            stop.Token);

        Assert.Equal([3, 0, 0], handed);
        Assert.NotNull(last);
        Assert.True(last.HasHang);
    }

    [Fact]
    public async Task Json_has_one_object_per_queue_with_the_verdict_qmp_field_names_and_both_readings()
    {
        await using FakeQmpServer server = StuckNet();
        QueueDiagnosis tx = (await DiagnoseAsync(server)).Queues.Single(x => x.QueueIndex == 1);
        using JsonDocument json = JsonDocument.Parse(tx.ToJson());
        JsonElement root = json.RootElement;
        Assert.Equal("device-stuck", root.GetProperty("verdict").GetString());
        Assert.Equal(LiveReference.NetPath, root.GetProperty("devicePath").GetString());
        Assert.Equal(133, root.GetProperty("queueStatus").GetProperty("last-avail-idx").GetInt32());
        Assert.Equal(336, root.GetProperty("ringFields").GetProperty("availIdx").GetInt32());
        Assert.Equal(2, root.GetProperty("readings").GetArrayLength());
        Assert.Equal(4, root.GetProperty("findings").GetArrayLength());
        Assert.Equal(1526, root.GetProperty("inFlightCandidates")[0].GetProperty("descriptors")[0].GetProperty("len").GetInt32());
    }
}
