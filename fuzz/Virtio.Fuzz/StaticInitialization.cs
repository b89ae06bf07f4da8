using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Virtio.Fuzz;

/// <summary>
/// Runs the static constructors of the libraries under test before the first input. A type's static initialisation
/// runs once per process, so its instrumented edges show in the first input that reaches the type and never again:
/// AFL, calibrating that input several times in the same process, counts them as variable (SharpFuzz absorbs this for
/// the first input only, with its setup run). The <c>mmio</c> target lost 0.19% stability this way: whichever device
/// kind (blk or net) an input built second ran that kind's static constructors (its instruments on the static
/// meters, <c>BlockMetrics</c> / <c>NetMetrics</c>) in the middle of the campaign.
/// </summary>
internal static unsafe class StaticInitialization
{
    private static readonly string[] Libraries = ["Virtio.Core", "Virtio.Devices", "Virtio.Diagnostics", "Virtio.VhostUser"];

    public static void RunAll()
    {
        // Instrumented code writes to the coverage map: before AFL's is attached, to a scratch one.
        if (SharpFuzz.Common.Trace.SharedMem == null)
        {
            SharpFuzz.Common.Trace.SharedMem = (byte*)NativeMemory.AllocZeroed(1 << 16);
        }

        foreach (string name in Libraries)
        {
            foreach (Type type in Assembly.Load(name).GetTypes())
            {
                if (type.TypeInitializer is not null && !type.ContainsGenericParameters)
                {
                    RuntimeHelpers.RunClassConstructor(type.TypeHandle);
                }
            }
        }
    }
}
