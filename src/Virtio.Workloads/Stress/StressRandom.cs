using System.Runtime.CompilerServices;

namespace Virtio.Workloads.Stress;

/// <summary>
/// SplitMix64: a small, allocation-free, reproducible generator (the same sequence on every runtime, unlike
/// <see cref="Random"/>'s unspecified algorithm). Each thread of the stress owns one; <see cref="Mix(ulong, ulong)"/> also derives
/// the per-seed and per-buffer values both sides compute independently.
/// </summary>
internal struct StressRandom
{
    private const ulong Gamma = 0x9E37_79B9_7F4A_7C15;
    private ulong _state;

    public StressRandom(ulong seed) => _state = seed;

    /// <summary>The next 64 random bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Next() => Mix(_state += Gamma);

    /// <summary>A value from 0 to <paramref name="bound"/> - 1 (a tiny modulo bias is irrelevant here).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Below(int bound) => (int)(Next() % (ulong)bound);

    /// <summary>True with probability 1/<paramref name="n"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool OneIn(int n) => Next() % (ulong)n == 0;

    /// <summary>SplitMix64's finaliser: a bijective mix of 64 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB;
        return z ^ (z >> 31);
    }

    /// <summary>A value derived from two, for keys such as (seed, buffer serial).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong a, ulong b) => Mix(a ^ Mix(b + Gamma));
}
