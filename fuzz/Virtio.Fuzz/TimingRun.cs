using System.Diagnostics;

namespace Virtio.Fuzz;

/// <summary>
/// <c>--time TARGET N FILE...</c>: the harness's cost per input without AFL. Runs the inputs once (static
/// initialisation, first JIT), then N rounds over all of them, and prints the mean microseconds per input, per file
/// and overall. On <c>fuzz/out/inst</c> it includes the coverage map writes AFL's executions pay; the difference to
/// AFL's executions per second is the fork server's (SharpFuzz's out-of-process pipes) and afl-fuzz's own.
/// </summary>
internal static class TimingRun
{
    public static int Run(GuardedRam ram, string target, int rounds, string[] files)
    {
        byte[][] inputs = files.Select(File.ReadAllBytes).ToArray();
        var ticks = new long[inputs.Length];
        int failed = 0;
        foreach (byte[] input in inputs)
        {
            failed += Execute(ram, target, input) ? 0 : 1;
        }

        var clock = Stopwatch.StartNew();
        for (int round = 0; round < rounds; round++)
        {
            for (int i = 0; i < inputs.Length; i++)
            {
                long start = Stopwatch.GetTimestamp();
                failed += Execute(ram, target, inputs[i]) ? 0 : 1;
                ticks[i] += Stopwatch.GetTimestamp() - start;
            }
        }

        clock.Stop();
        for (int i = 0; i < inputs.Length; i++)
        {
            Console.WriteLine($"{files[i]}: {Microseconds(ticks[i], rounds):F0} us");
        }

        long executions = (long)rounds * inputs.Length;
        Console.WriteLine($"{target}: {executions} executions in {clock.Elapsed.TotalSeconds:F2} s, {Microseconds(ticks.Sum(), executions):F0} us per input, {failed} failed");
        return failed == 0 ? 0 : 1;
    }

    private static double Microseconds(long ticks, long count) => ticks * 1e6 / Stopwatch.Frequency / Math.Max(1, count);

    private static bool Execute(GuardedRam ram, string target, byte[] input)
    {
        try
        {
            Program.RunOne(ram, target, input);
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return false; // a finding is --replay's business; counted, so a timing over failing inputs is visible
        }
    }
}
