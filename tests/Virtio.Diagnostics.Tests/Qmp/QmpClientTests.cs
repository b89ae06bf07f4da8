using System.Text;
using System.Text.Json;
using Virtio.Diagnostics.Qmp;
using Virtio.Diagnostics.Tests.Support;

namespace Virtio.Diagnostics.Tests.Qmp;

public class QmpClientTests
{
    private static readonly QmpClientOptions Options = new() { CommandTimeout = TimeSpan.FromSeconds(20) };

    private static string Virtio(string name) => LiveReference.Line(name);

    [Fact]
    public async Task Connect_reads_qemu_7_2_greeting_and_negotiates_capabilities_first()
    {
        await using FakeQmpServer server = FakeQmpServer.StartUnix();
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, Options);
        Assert.Equal((7, 2, 22), (client.Version.Major, client.Version.Minor, client.Version.Micro));
        Assert.Contains("Debian", client.Version.Package, StringComparison.Ordinal);
        Assert.Equal(["qmp_capabilities"], server.Received);
    }

    [Fact]
    public async Task Connect_over_tcp_takes_host_and_port()
    {
        await using FakeQmpServer server = FakeQmpServer.StartTcp();
        server.Script("x-query-virtio", Virtio("x-query-virtio.json"));
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, Options);
        IReadOnlyList<VirtioDeviceInfo> devices = await client.QueryVirtioAsync();
        Assert.Contains(new VirtioDeviceInfo("virtio-blk", LiveReference.BlkPath), devices);
        Assert.Equal(3, devices.Count);
    }

    [Fact]
    public async Task Connect_to_a_missing_socket_is_a_connect_failure_naming_it()
    {
        string path = Path.Combine(Path.GetTempPath(), $"no-qmp-{Guid.NewGuid():N}.sock");
        QmpException e = await Assert.ThrowsAsync<QmpException>(() => QmpClient.ConnectAsync(path, Options));
        Assert.Equal(QmpErrorKind.ConnectFailed, e.Kind);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_port_that_is_not_a_number_is_refused()
    {
        QmpException e = await Assert.ThrowsAsync<QmpException>(() => QmpClient.ConnectAsync("localhost:qmp", Options));
        Assert.Equal(QmpErrorKind.ConnectFailed, e.Kind);
    }

    [Fact]
    public async Task A_greeting_that_is_not_qmp_is_a_protocol_error()
    {
        await using FakeQmpServer server = FakeQmpServer.StartUnix();
        server.Greeting = "{\"hello\": 1}";
        QmpException e = await Assert.ThrowsAsync<QmpException>(() => QmpClient.ConnectAsync(server.Endpoint, Options));
        Assert.Equal(QmpErrorKind.ProtocolError, e.Kind);
    }

    [Fact]
    public async Task Events_before_a_reply_are_skipped()
    {
        await using FakeQmpServer server = FakeQmpServer.StartUnix();
        server.BeforeEachReply = "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"NIC_RX_FILTER_CHANGED\", \"data\": {\"path\": \"/machine/peripheral/net0/virtio-backend\"}}";
        server.Script("x-query-virtio", Virtio("x-query-virtio.json"));
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, Options);
        Assert.Equal(3, (await client.QueryVirtioAsync()).Count);
    }

    [Fact]
    public async Task A_qmp_error_reply_is_a_typed_error_carrying_qemus_text()
    {
        await using FakeQmpServer server = FakeQmpServer.StartUnix();
        server.Script("x-query-virtio-queue-status /machine/peripheral/nope 0", Virtio("queue-status-bad-path.json"));
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, Options);
        QmpException e = await Assert.ThrowsAsync<QmpException>(() => client.QueryVirtioQueueStatusAsync("/machine/peripheral/nope", 0));
        Assert.Equal(QmpErrorKind.CommandFailed, e.Kind);
        Assert.Equal("GenericError", e.ErrorClass);
        Assert.Equal("Path /machine/peripheral/nope is not a VirtIODevice", e.QemuDescription);
        Assert.Contains("x-query-virtio-queue-status", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_x_query_virtio_commands_are_named()
    {
        await using FakeQmpServer server = FakeQmpServer.StartUnix();
        string without = Virtio("query-commands.json").Replace("{\"name\": \"x-query-virtio-queue-element\"}, ", "", StringComparison.Ordinal);
        server.Script("query-commands", without);
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, Options);
        QmpException e = await Assert.ThrowsAsync<QmpException>(() => client.RequireCommandsAsync(QmpClient.VirtioCommands));
        Assert.Equal(QmpErrorKind.MissingCommand, e.Kind);
        Assert.Contains("lacks x-query-virtio-queue-element (", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Qemu_7_2_has_every_command_the_diagnosis_needs()
    {
        await using FakeQmpServer server = FakeQmpServer.StartUnix();
        server.Script("query-commands", Virtio("query-commands.json"));
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, Options);
        await client.RequireCommandsAsync(QmpClient.VirtioCommands);
    }

    [Fact]
    public async Task A_reply_that_is_not_json_is_a_protocol_error()
    {
        await using FakeQmpServer server = FakeQmpServer.StartUnix();
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, Options);
        server.RawReply = "Welcome to the monitor\r\n"u8.ToArray();
        QmpException e = await Assert.ThrowsAsync<QmpException>(() => client.ExecuteAsync("query-status"));
        Assert.Equal(QmpErrorKind.ProtocolError, e.Kind);
    }

    [Fact]
    public async Task A_message_longer_than_the_limit_is_refused_without_reading_it_whole()
    {
        await using FakeQmpServer server = FakeQmpServer.StartUnix();
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, new QmpClientOptions { CommandTimeout = TimeSpan.FromSeconds(20), MaxMessageBytes = 4096 });
        server.RawReply = Encoding.ASCII.GetBytes("{\"return\": \"" + new string('x', 10000) + "\"}\r\n");
        QmpException e = await Assert.ThrowsAsync<QmpException>(() => client.ExecuteAsync("query-status"));
        Assert.Equal(QmpErrorKind.ProtocolError, e.Kind);
        Assert.Contains("longer than 4096 bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reply_for_another_id_is_a_protocol_error()
    {
        await using FakeQmpServer server = FakeQmpServer.StartUnix();
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, Options);
        server.RawReply = "{\"return\": {}, \"id\": 99}\r\n"u8.ToArray();
        QmpException e = await Assert.ThrowsAsync<QmpException>(() => client.ExecuteAsync("query-status"));
        Assert.Equal(QmpErrorKind.ProtocolError, e.Kind);
    }

    [Fact]
    public async Task Qemu_closing_the_connection_is_a_disconnect()
    {
        await using FakeQmpServer server = FakeQmpServer.StartUnix();
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, Options);
        await server.DisposeAsync();
        QmpException e = await Assert.ThrowsAsync<QmpException>(() => client.ExecuteAsync("query-status"));
        Assert.True(e.Kind is QmpErrorKind.Disconnected, e.Message);
    }

    [Fact]
    public async Task A_command_qemu_never_answers_times_out()
    {
        await using FakeQmpServer server = FakeQmpServer.StartUnix();
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, new QmpClientOptions { CommandTimeout = TimeSpan.FromMilliseconds(300) });
        server.Silent = true;
        QmpException e = await Assert.ThrowsAsync<QmpException>(() => client.ExecuteAsync("query-status"));
        Assert.Equal(QmpErrorKind.Timeout, e.Kind);
    }

    [Fact]
    public async Task Cancellation_is_an_operation_canceled_exception_not_a_timeout()
    {
        await using FakeQmpServer server = FakeQmpServer.StartUnix();
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, Options);
        server.Silent = true;
        using var cts = new CancellationTokenSource();
        Task<JsonElement> pending = client.ExecuteAsync("query-status", cts.Token);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
    }

    [Fact]
    public async Task Virtio_status_of_qemu_7_2_gives_event_idx_queue_count_and_vhost()
    {
        await using FakeQmpServer server = FakeQmpServer.StartUnix();
        server.Script($"x-query-virtio-status {LiveReference.NetPath}", Virtio("net-virtio-status.json"));
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, Options);
        QemuVirtioStatus s = await client.QueryVirtioStatusAsync(LiveReference.NetPath);
        Assert.Equal(("virtio-net", 3, true, false, false, false), (s.Name, s.NumVqs, s.EventIdx, s.VhostStarted, s.Broken, s.AccessPlatform));
        Assert.Contains("VIRTIO_CONFIG_S_DRIVER_OK", s.StatusNames);
        using JsonDocument kept = JsonDocument.Parse(s.Json);
        Assert.Equal(3, kept.RootElement.GetProperty("num-vqs").GetInt32());
    }

    [Fact]
    public async Task Queue_status_of_qemu_7_2_parses_with_qmp_names()
    {
        await using FakeQmpServer server = FakeQmpServer.StartUnix();
        server.Script($"x-query-virtio-queue-status {LiveReference.NetPath} 1", Virtio("net-queue-status-1.json"));
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, Options);
        QueueStatus s = await client.QueryVirtioQueueStatusAsync(LiveReference.NetPath, 1);
        Assert.Equal(((ushort)1, 1u, (ushort)133, (ushort)133, (ushort)132), (s.QueueIndex, s.InUse, s.LastAvailIdx, s.ShadowAvailIdx, s.UsedIdx));
    }

    [Fact]
    public async Task Queue_element_at_an_explicit_position_lists_descriptors_as_qemu_sends_them()
    {
        await using FakeQmpServer server = FakeQmpServer.StartUnix();
        server.Script($"x-query-virtio-queue-element {LiveReference.NetPath} 1 132", Virtio("net-tx-queue-element-132.json"));
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, Options);
        QemuQueueElement e = await client.QueryVirtioQueueElementAsync(LiveReference.NetPath, 1, 132);
        Assert.Equal(((ushort)132, 2u), (e.Position, e.Head));
        VringDescriptor d = Assert.Single(e.Descriptors);
        Assert.Equal((44617734ul, 1526u), (d.Addr, d.Len));
        Assert.Contains($"x-query-virtio-queue-element {LiveReference.NetPath} 1 132", server.Received);
    }

    [Fact]
    public async Task Xp_reads_guest_halfwords_through_human_monitor_command()
    {
        await using FakeQmpServer server = FakeQmpServer.StartUnix();
        server.Ram[0x2785000] = 0x0001;
        server.Ram[0x2785002] = 0x0150;
        await using QmpClient client = await QmpClient.ConnectAsync(server.Endpoint, Options);
        ushort[] words = await client.ReadGuestHalfwordsAsync(0x2785000, 2);
        Assert.Equal(new ushort[] { 1, 0x150 }, words);
        Assert.Contains("human-monitor-command xp /2hx 0x2785000", server.Received);
    }
}
