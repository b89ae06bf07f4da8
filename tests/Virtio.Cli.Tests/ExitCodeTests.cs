using Virtio.Cli.CommandLine;
using Virtio.Cli.Repro;
using Virtio.Scenarios;

namespace Virtio.Cli.Tests;

/// <summary>One exit-code table for the whole command: 0 success, 1 bad input or an error, 2 a problem found.</summary>
public sealed class ExitCodeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("--help")]
    [InlineData("repro --help")]
    [InlineData("analyze --help")]
    [InlineData("bench --help")]
    [InlineData("bench ring --help")]
    [InlineData("bench blk --help")]
    [InlineData("bench net --help")]
    [InlineData("ping --help")]
    public void Every_help_prints_the_exit_code_table(string commandLine)
    {
        (int exit, string stdout, string stderr) = VirtioCommand.Run(commandLine.Split(' '));
        Assert.Equal(0, exit);
        Assert.Empty(stderr);
        Assert.Contains(ExitCodes.Table, stdout.Replace("\r\n", "\n", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void The_readme_prints_the_same_exit_code_table()
    {
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        Assert.Contains(ExitCodes.Table, readme, StringComparison.Ordinal);
    }

    [Fact]
    public void Repro_exits_0_when_every_verdict_matches()
    {
        (int exit, string stdout, string stderr) = VirtioCommand.Run("repro", "dropped-kick", "--device", "ring");
        Assert.True(exit == ExitCodes.Success, stdout + stderr);
        Assert.Contains("expected device-missed-kick, found device-missed-kick: ok", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Repro_exits_2_when_a_verdict_does_not_match()
    {
        // The control run (no fault injected) of a hang scenario is healthy, which is not the verdict it expects.
        ReproResult control = ReproRunner.Run(ReproScenario.Find("dropped-kick")!, new ReproOptions { Device = "ring", InjectFault = false });
        Assert.False(control.Matches);
        Assert.Equal(ExitCodes.Found, ReproCommand.ExitCodeFor([control]));
    }

    [Fact]
    public void Repro_exits_1_on_bad_input_not_2() =>
        Assert.Equal(ExitCodes.Error, VirtioCommand.Run("repro", "--ring-size", "3").Exit);

    [Theory]
    [InlineData("dropped-kick", ExitCodes.Found)]
    [InlineData("healthy", ExitCodes.Success)]
    public void Analyze_exits_2_on_a_hang_and_0_on_a_healthy_queue(string scenario, int expected)
    {
        string dump = _dir.File("dump");
        Assert.Equal(ExitCodes.Success, VirtioCommand.Run("repro", scenario, "--device", "blk", "--dump", dump).Exit);
        (int exit, string stdout, string stderr) = VirtioCommand.Run(
            "analyze", "--ram", Path.Combine(dump, "ram.bin"), "--queue-status", Path.Combine(dump, "queue-status.json"),
            "--virtio-status", Path.Combine(dump, "virtio-status.json"));
        Assert.True(exit == expected, stdout + stderr);
    }

    [Fact]
    public void Ping_exits_1_on_bad_arguments_not_2() =>
        Assert.Equal(ExitCodes.Error, VirtioCommand.Run("ping", "--count", "0", "--listen", _dir.File("a.sock")).Exit);

    [Fact]
    public void Ping_exits_1_when_nobody_connects()
    {
        (int exit, _, string stderr) = VirtioCommand.Run("ping", "--listen", _dir.File("a.sock"), "--timeout", "1");
        Assert.Equal(ExitCodes.Error, exit);
        Assert.Contains("nobody connected", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Ping_exits_2_when_the_peer_does_not_answer()
    {
        // A peer that takes the connection and never answers ARP: ping ran, and found nobody home.
        string path = _dir.File("peer.sock");
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        listener.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        Task<(int Exit, string Out, string Err)> ping = Task.Run(() => VirtioCommand.Run("ping", "--connect", path, "--timeout", "1", "--count", "1"));
        using System.Net.Sockets.Socket peer = listener.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
        (int exit, string stdout, string stderr) = ping.WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
        Assert.True(exit == ExitCodes.Found, stdout + stderr);
        Assert.Contains("no ARP reply from 10.0.2.15", stdout, StringComparison.Ordinal);
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Virtio.sln")))
            {
                return d.FullName;
            }
        }

        throw new InvalidOperationException("Virtio.sln not found above " + AppContext.BaseDirectory);
    }
}
