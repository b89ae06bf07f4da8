using SharpFuzz;

namespace Virtio.Fuzz;

/// <summary>
/// The fuzz targets of issue 15, run under AFL++ by <c>fuzz/run.sh</c>:
/// <c>Virtio.Fuzz TARGET</c> serves AFL's fork-server protocol (SharpFuzz), <c>--replay TARGET FILE...</c> runs inputs
/// once each (a crash reproduced outside AFL), <c>--stability TARGET FILE...</c> finds inputs whose coverage varies
/// between runs in one process (instrumented assemblies only), <c>--time TARGET N FILE...</c> prints the microseconds
/// an input takes (the harness's cost per execution), <c>--seeds DIR</c> writes the seed corpus.
/// </summary>
internal static class Program
{
    public static readonly string[] Targets = ["ring", "blk", "net", "mmio", "analyze", "vhost-user", "vhost-user-fds"];

    private const int MaxInput = 64 * 1024;

    private static int Main(string[] args)
    {
        if (args.Length == 2 && args[0] == "--seeds")
        {
            SeedCorpus.Write(args[1]);
            return 0;
        }

        if (args.Length >= 2 && args[0] == "--replay" && Array.IndexOf(Targets, args[1]) >= 0)
        {
            StaticInitialization.RunAll(); // as in the fuzz loop (and, on the instrumented assemblies, a coverage map)
            var ram = new GuardedRam(RingTarget.RamSize);
            int failed = 0;
            foreach (string file in args[2..])
            {
                try
                {
                    RunOne(ram, args[1], File.ReadAllBytes(file));
                    Console.WriteLine(args[1] == "vhost-user-fds" ? $"{file}: ok ({VhostUserFdsTarget.LastSummary})" : $"{file}: ok");
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    Console.WriteLine($"{file}: {e}");
                    failed++;
                }
            }

            return failed == 0 ? 0 : 1;
        }

        if (args.Length >= 2 && args[0] == "--stability" && Array.IndexOf(Targets, args[1]) >= 0)
        {
            StaticInitialization.RunAll();
            return StabilityCheck.Run(new GuardedRam(RingTarget.RamSize), args[1], args[2..]);
        }

        if (args.Length >= 3 && args[0] == "--time" && Array.IndexOf(Targets, args[1]) >= 0 && int.TryParse(args[2], System.Globalization.CultureInfo.InvariantCulture, out int rounds) && rounds > 0)
        {
            StaticInitialization.RunAll();
            return TimingRun.Run(new GuardedRam(RingTarget.RamSize), args[1], rounds, args[3..]);
        }

        if (args.Length == 1 && Array.IndexOf(Targets, args[0]) >= 0)
        {
            string target = args[0];
            StaticInitialization.RunAll();
            var ram = new GuardedRam(RingTarget.RamSize);
            byte[] buffer = new byte[MaxInput];
            Fuzzer.OutOfProcess.Run(stream =>
            {
                int n = 0, r;
                while (n < buffer.Length && (r = stream.Read(buffer, n, buffer.Length - n)) > 0)
                {
                    n += r;
                }

                RunOne(ram, target, buffer.AsSpan(0, n));
            });
            return 0;
        }

        Console.Error.WriteLine($"usage: Virtio.Fuzz {string.Join('|', Targets)} | --replay TARGET FILE... | --stability TARGET FILE... | --time TARGET N FILE... | --seeds DIR");
        return 2;
    }

    public static void RunOne(GuardedRam ram, string target, ReadOnlySpan<byte> data)
    {
        // Every input starts from the same previous location, as a forked process does (AFL++'s persistent loop resets
        // __afl_prev_loc too): otherwise the first edge of an input depends on the last block of the one before.
        SharpFuzz.Common.Trace.PrevLocation = 0;
        switch (target)
        {
            case "ring":
                RingTarget.Run(ram, data);
                break;
            case "blk" or "net" or "mmio":
                DeviceTarget.Run(ram, target, data);
                break;
            case "analyze":
                AnalyzeTarget.Run(ram, data);
                break;
            case "vhost-user":
                VhostUserTarget.Run(data);
                break;
            case "vhost-user-fds":
                VhostUserFdsTarget.Run(data);
                break;
            default:
                throw new ArgumentException($"unknown target {target}", nameof(target));
        }
    }
}
