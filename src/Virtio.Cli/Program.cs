using System.CommandLine;
using Virtio.Cli.Bench;

namespace Virtio.Cli;

/// <summary>The <c>virtio</c> command.</summary>
public static class Program
{
    /// <summary>Entry point.</summary>
    public static int Main(string[] args)
    {
        var root = new RootCommand("virtio: a VIRTIO split-virtqueue emulator — benchmarks and diagnostics")
        {
            Repro.ReproCommand.Build(),
            BuildBenchCommand(),
            Analyze.AnalyzeCommand.Build(),
            Ping.PingCommand.Build(),
            Serve.ServeCommand.Build(),
        };
        return root.Parse(args).Invoke();
    }

    private static Command BuildBenchCommand()
    {
        var bench = new Command("bench", "Measure throughput");
        bench.Subcommands.Add(RingBenchCommand.Build());
        bench.Subcommands.Add(BlkBenchCommand.Build());
        bench.Subcommands.Add(NetBenchCommand.Build());
        return bench;
    }
}
