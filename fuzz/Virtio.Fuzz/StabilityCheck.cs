using System.Runtime.InteropServices;

namespace Virtio.Fuzz;

/// <summary>
/// AFL's stability measured without AFL, to find what state leaks between inputs: runs each input several times in
/// this one process, as SharpFuzz's persistent loop does (the first input once before, as its setup run, and
/// <c>PrevLocation</c> never reset), classifies the coverage map into AFL's hit-count buckets and reports the map
/// bytes that differ between runs of the same input. Needs the instrumented assemblies (<c>fuzz/out/inst</c>).
/// </summary>
internal static unsafe class StabilityCheck
{
    private const int MapSize = 1 << 16;
    private const int Runs = 4;

    public static int Run(GuardedRam ram, string target, string[] files)
    {
        byte* map = (byte*)NativeMemory.AllocZeroed(MapSize);
        SharpFuzz.Common.Trace.SharedMem = map;
        var seen = new bool[MapSize];
        var variable = new bool[MapSize];
        byte[] first = new byte[MapSize];
        var trace = new Span<byte>(map, MapSize);
        if (files.Length > 0)
        {
            Execute(ram, target, files[0]); // SharpFuzz's setup run: static initialisation of the first input is not counted
        }

        foreach (string file in files)
        {
            int before = Count(variable);
            for (int run = 0; run < Runs; run++)
            {
                trace.Clear();
                Execute(ram, target, file);
                for (int i = 0; i < MapSize; i++)
                {
                    byte b = Bucket(map[i]);
                    seen[i] |= b != 0;
                    if (run == 0)
                    {
                        first[i] = b;
                    }
                    else if (b != first[i])
                    {
                        variable[i] = true;
                    }
                }
            }

            int added = Count(variable) - before;
            if (added > 0)
            {
                Console.WriteLine($"{file}: {added} map byte(s) vary between runs");
            }
        }

        int covered = Count(seen), varying = Count(variable);
        Console.WriteLine($"{target}: {files.Length} inputs, {covered} map bytes covered, {varying} variable, stability {100.0 * (covered - varying) / Math.Max(1, covered):F2}%");
        return varying == 0 ? 0 : 1;
    }

    private static void Execute(GuardedRam ram, string target, string file)
    {
        try
        {
            Program.RunOne(ram, target, File.ReadAllBytes(file));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A crash is the replay mode's business; here only the coverage counts.
        }
    }

    // AFL's count_class_lookup8: hit counts compared by bucket, as calibration does.
    private static byte Bucket(byte count) => count switch
    {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => 4,
        < 8 => 8,
        < 16 => 16,
        < 32 => 32,
        < 128 => 64,
        _ => 128,
    };

    private static int Count(bool[] bits) => bits.Count(b => b);
}
