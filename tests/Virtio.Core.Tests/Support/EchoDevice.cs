using Virtio.Device;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Core.Tests.Support;

/// <summary>
/// The simplest device model: copies each chain's readable bytes into its writable part and completes it, or, while
/// <see cref="Hold"/> is set, keeps the chain for the test to complete later (a backend still working).
/// </summary>
internal sealed class EchoDevice : VirtioDevice
{
    public const uint Id = 0x7e57;
    public const ulong FeatureA = 1UL << 0;
    public const ulong FeatureB = 1UL << 1;

    private readonly byte[] _scratch = new byte[4096];

    public EchoDevice(GuestMemory memory, VirtioDeviceOptions? options = null, int queues = 2)
        : base(memory, Id, "virtio-echo", queues, configSize: 8, FeatureA | FeatureB, options)
    {
        Config[0] = 0xAB;
    }

    public bool Hold { get; set; }

    public List<(VirtioQueue Queue, DescriptorChain Chain)> Held { get; } = [];

    public int Activations { get; private set; }

    public string? RefuseFeatures { get; set; }

    /// <summary>Called inside <c>WriteStatus</c> while it validates FEATURES_OK: a test can hold the driver's write there.</summary>
    public Action? OnValidatingFeatures { get; set; }

    public byte WritableConfigByte => Config[4];

    public void SetConfigByte(int offset, byte value)
    {
        Config[offset] = value;
        NotifyConfigChanged();
    }

    protected override void HandleChain(VirtioQueue queue, in DescriptorChain chain)
    {
        if (Hold)
        {
            lock (Held)
            {
                Held.Add((queue, chain));
            }

            return;
        }

        int n = chain.CopyFromReadable(_scratch);
        uint written = (uint)chain.CopyToWritable(_scratch.AsSpan(0, n));
        queue.Complete(chain, written);
    }

    protected override string? ValidateFeatures(ulong driverFeatures)
    {
        OnValidatingFeatures?.Invoke();
        return RefuseFeatures;
    }

    protected override bool WriteConfigField(int offset, ReadOnlySpan<byte> source)
    {
        if (offset != 4 || source.Length != 1)
        {
            return false;
        }

        Config[4] = source[0];
        return true;
    }

    protected override void OnActivate() => Activations++;
}
