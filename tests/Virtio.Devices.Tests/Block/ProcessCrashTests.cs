using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Virtio.CrashHost;
using Virtio.Devices.Tests.Support;
using Xunit.Abstractions;

namespace Virtio.Devices.Tests.Block;

/// <summary>
/// Process crash: a child (tests/Support/Virtio.CrashHost) serves random writes, write-zeroes, discards and flushes
/// to a virtio-blk device on a <see cref="Devices.Block.FileBlockBackend"/>, and is SIGKILLed at seeded random
/// moments. The page cache outlives the process, so every acknowledged request must be in the image (power loss is
/// the power-loss tests' job).
/// </summary>
[Collection("BlkThreads")]
public class ProcessCrashTests(ITestOutputHelper output)
{
    private const int Sectors = 256;

    // VIRTIO_CRASH_KILLS and VIRTIO_CRASH_SEED run more kills by hand (docs/crash-consistency.md).
    private static readonly int s_kills = int.TryParse(Environment.GetEnvironmentVariable("VIRTIO_CRASH_KILLS"), out int k) ? k : 100;
    private static readonly int s_seed = int.TryParse(Environment.GetEnvironmentVariable("VIRTIO_CRASH_SEED"), out int s) ? s : 1;

    [Fact]
    public void Every_request_acknowledged_before_SIGKILL_is_in_the_image_and_no_sector_holds_bytes_never_written_to_it()
    {
        string host = typeof(ProcessCrashTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CrashHost").Value!;
        Assert.True(File.Exists(host), $"the crash host is not built at {host}");

        // Two lanes, each a chain of kills on its own image: a child spends most of its short life starting up, so
        // two at a time keep the test's length down on a loaded machine.
        var totals = new Totals[2];
        Parallel.For(0, totals.Length, new ParallelOptions { MaxDegreeOfParallelism = totals.Length }, lane =>
            totals[lane] = KillRepeatedly(host, new Random(HashCode.Combine(s_seed, lane)), (s_kills + lane) / totals.Length));

        // The mix really had every kind in it, and the kills really landed among acknowledgements.
        int acknowledged = totals.Sum(t => t.Acknowledged), discards = totals.Sum(t => t.Discards), writeZeroes = totals.Sum(t => t.WriteZeroes);
        output.WriteLine($"{s_kills} kills (seed {s_seed}): {acknowledged} acknowledgements checked, {discards} discards, {writeZeroes} write-zeroes");
        Assert.True(acknowledged > s_kills, $"only {acknowledged} acknowledgements in {s_kills} runs");
        Assert.True(discards > 0 && writeZeroes > 0, $"discards {discards}, write-zeroes {writeZeroes}");
    }

    private static Totals KillRepeatedly(string host, Random rng, int kills)
    {
        using var image = new TempFile();

        // What each sector holds after the last kill: 0 for zeroes, else the generation of its stamp.
        var known = new long[Sectors];
        long nextGeneration = 1;
        var totals = default(Totals);
        for (int kill = 0; kill < kills; kill++)
        {
            // Kill after a random number of acknowledgements: early ones land while the device is still starting.
            int killAfter = rng.Next(0, 200);
            var run = RunUntilKilled(host, image.Path, rng.Next(), nextGeneration, asynchronous: kill % 2 == 1, killAfter);
            byte[] bytes = File.ReadAllBytes(image.Path);
            Assert.Equal(Sectors * 512, bytes.Length);
            var acceptable = Acceptable(known, run);
            for (int sector = 0; sector < Sectors; sector++)
            {
                long found = SectorStamp.Parse(bytes.AsSpan(sector * 512, 512), (ulong)sector);
                Assert.True(found != SectorStamp.Garbage, $"kill {kill}: sector {sector} holds bytes never written to it");
                Assert.True(
                    acceptable[sector]?.Contains(found) ?? found == known[sector],
                    $"kill {kill}: sector {sector} holds {Describe(found)}, expected one of {string.Join(", ", (acceptable[sector] ?? [known[sector]]).Select(Describe))}");
                known[sector] = found;
            }

            nextGeneration = run.NextGeneration;
            totals = new Totals(
                totals.Acknowledged + run.Acknowledged.Count,
                totals.Discards + run.Requests.Values.Count(r => r.Kind == 'D'),
                totals.WriteZeroes + run.Requests.Values.Count(r => r.Kind == 'Z'));
        }

        return totals;
    }

    private static string Describe(long content) => content == SectorStamp.Zero ? "zeroes" : $"generation {content}";

    /// <summary>
    /// Per sector, the contents allowed after the kill (null: untouched, must hold what it held). Requests in flight
    /// never overlap, so each sector's requests form a sequence: an acknowledged one decides the contents (a discard
    /// may also leave them), the one in flight at the kill may or may not have landed.
    /// </summary>
    private static HashSet<long>?[] Acceptable(long[] known, Run run)
    {
        var acceptable = new HashSet<long>?[Sectors];
        foreach (long gen in run.Order)
        {
            Request r = run.Requests[gen];
            bool acked = run.Acknowledged.Contains(gen);
            for (int sector = r.Sector; sector < r.Sector + r.Count; sector++)
            {
                HashSet<long> before = acceptable[sector] ?? [known[sector]];
                var after = new HashSet<long>();
                if (r.Kind == 'D' || !acked)
                {
                    after.UnionWith(before);
                }

                after.Add(r.Kind == 'W' ? gen : SectorStamp.Zero);
                acceptable[sector] = after;
            }
        }

        return acceptable;
    }

    private static Run RunUntilKilled(string host, string image, int seed, long firstGeneration, bool asynchronous, int killAfter)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in (string[])["exec", host, image, Sectors.ToString(CultureInfo.InvariantCulture), seed.ToString(CultureInfo.InvariantCulture),
            firstGeneration.ToString(CultureInfo.InvariantCulture), asynchronous ? "1" : "0"])
        {
            start.ArgumentList.Add(arg);
        }

        using var child = Process.Start(start)!;
        child.ErrorDataReceived += (_, _) => { };
        child.BeginErrorReadLine();

        // A child that stops answering is killed by the watchdog and fails the test, instead of hanging it.
        bool timedOut = false;
        using var watchdog = new Timer(_ => { timedOut = true; child.Kill(); }, null, TimeSpan.FromSeconds(60), Timeout.InfiniteTimeSpan);
        var run = new Run(firstGeneration);
        bool killed = false;
        string? line;
        while ((line = child.StandardOutput.ReadLine()) != null)
        {
            string[] f = line.Split(' ');
            switch (f[0])
            {
                case "R":
                    Assert.Equal("R discard=1 write-zeroes=1", line); // the device offers both, so they are in the mix
                    break;
                case "S":
                    long gen = long.Parse(f[1], CultureInfo.InvariantCulture);
                    run.Requests[gen] = new Request(f[2][0], int.Parse(f[3], CultureInfo.InvariantCulture), int.Parse(f[4], CultureInfo.InvariantCulture));
                    run.Order.Add(gen);
                    run.NextGeneration = gen + 1;
                    break;
                case "A":
                    Assert.Equal("0", f[2]);
                    run.Acknowledged.Add(long.Parse(f[1], CultureInfo.InvariantCulture));
                    break;
                default:
                    Assert.Fail($"unexpected line from the crash host: {line}");
                    break;
            }

            if (!killed && run.Acknowledged.Count >= killAfter)
            {
                // SIGKILL on Unix; the lines already in the pipe are still read: they were acknowledged before the kill.
                child.Kill();
                killed = true;
            }
        }

        child.WaitForExit();
        Assert.False(timedOut, "the crash host stopped answering");
        Assert.True(killed, $"the crash host exited on its own with {child.ExitCode}");
        return run;
    }

    private readonly record struct Totals(int Acknowledged, int Discards, int WriteZeroes);

    private readonly record struct Request(char Kind, int Sector, int Count);

    private sealed class Run(long firstGeneration)
    {
        public Dictionary<long, Request> Requests { get; } = [];

        public List<long> Order { get; } = [];

        public HashSet<long> Acknowledged { get; } = [];

        public long NextGeneration { get; set; } = firstGeneration;
    }
}
