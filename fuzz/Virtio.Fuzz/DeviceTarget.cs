using Virtio.Device;
using Virtio.Devices.Block;
using Virtio.Devices.Net;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Transport;

namespace Virtio.Fuzz;

/// <summary>Which device a device-level target drives.</summary>
internal enum DeviceKind
{
    Blk,
    Net,
}

/// <summary>
/// A device model behind virtio-mmio over guarded guest RAM (inline processing, so a QueueNotify serves the queue on
/// the caller's thread). The blk and net targets start from a device the Linux-model driver probed (header: which
/// features, which queue size) and then run the input's commands: guest writes to RAM (descriptors, rings, request
/// headers and data, all the fuzzer's), QueueNotify, other register reads and writes. The mmio target starts from a
/// device nobody probed, so the status machine, feature negotiation and queue setup come from the input too.
/// </summary>
internal sealed class DeviceTarget : IDisposable
{
    public const int RamSize = 64 * 1024;

    // Command codes; the seed generator writes the same.
    public const byte CmdPatch = 0, CmdNotify = 1, CmdWrite = 2, CmdRead = 3, CmdPendingKicks = 4, CmdCount = 5;

    public const ulong BlkFeatures = VirtioFeature.RingEventIdx | VirtioFeature.RingIndirectDesc | VirtioBlkFeature.SegMax
        | VirtioBlkFeature.BlockSize | VirtioBlkFeature.Flush | VirtioBlkFeature.Topology | VirtioBlkFeature.ConfigWce
        | VirtioBlkFeature.MultiQueue | VirtioBlkFeature.Discard | VirtioBlkFeature.WriteZeroes | VirtioBlkFeature.ReadOnly;

    public const ulong NetFeatures = VirtioFeature.RingEventIdx | VirtioFeature.RingIndirectDesc | NetFeature.Mac
        | NetFeature.Status | NetFeature.Mtu | NetFeature.MrgRxBuf | NetFeature.CtrlVq | NetFeature.CtrlRx
        | NetFeature.CtrlMacAddr | NetFeature.GuestAnnounce | NetFeature.Mq | NetFeature.Offloads;

    // One device per kind (and, for net, per MergeableRxBuffers) for the whole process, reset between inputs, as a
    // VMM's device outlives the guest's resets: building one (its queues' head tracking and shadow tables, meters,
    // loggers) cost more than most inputs. All three are built at the first input, which SharpFuzz runs once unmeasured
    // (an input that built the second kind would see the constructors' edges only in its first run: unstable).
    // Guest RAM is zeroed for every input.
    private static (VirtioDevice Device, VirtioMmioTransport Mmio)[]? s_devices;
    private static readonly FreshDisk s_disk = new();
    private static GuestMemory? s_memory;

    private DeviceTarget(GuardedRam ram, DeviceKind kind, byte featureMask, byte sizeChoice, bool probe)
    {
        Ram = ram;
        ram.Bytes.Clear();
        s_disk.Empty();
        if (kind == DeviceKind.Net && probe)
        {
            // The net target keeps a device per input: with one for the process, AFL measured 99.83% stability where it
            // had 100% (replayed in queue order it is 100%; the state some mutant leaves is not found yet).
            _ownsDevice = true;
            Memory = ram.Fresh();
            (Device, Mmio) = Build(Memory, kind, (featureMask & 0x80) == 0, warm: false);
        }
        else
        {
            Memory = s_memory ??= ram.Fresh();
            s_devices ??= [Build(Memory, DeviceKind.Blk, false), Build(Memory, DeviceKind.Net, true), Build(Memory, DeviceKind.Net, false)];
            (Device, Mmio) = s_devices[kind == DeviceKind.Blk ? 0 : (featureMask & 0x80) == 0 ? 1 : 2];
        }

        Driver = new VirtioMmioGuestDriver<int>(Mmio, Memory, 0, RamSize);
        if (probe)
        {
            // The header clears features: bit 0 EVENT_IDX, 1 INDIRECT_DESC, 2..6 device features, 7 MRG_RXBUF (net).
            ulong all = kind == DeviceKind.Blk ? BlkFeatures : NetFeatures;
            ulong clear = ((featureMask & 1) != 0 ? VirtioFeature.RingEventIdx : 0) | ((featureMask & 2) != 0 ? VirtioFeature.RingIndirectDesc : 0)
                | (kind == DeviceKind.Blk
                    ? ((featureMask & 4) != 0 ? VirtioBlkFeature.Discard | VirtioBlkFeature.WriteZeroes : 0) | ((featureMask & 8) != 0 ? VirtioBlkFeature.Flush : 0)
                    : ((featureMask & 4) != 0 ? NetFeature.Offloads : 0) | ((featureMask & 8) != 0 ? NetFeature.Mq : 0) | ((featureMask & 0x80) != 0 ? NetFeature.MrgRxBuf : 0));
            // 2 to 32 entries: every queue of the largest device, with its indirect area, fits in guest RAM beside the buffers.
            Driver.Probe(all & ~clear, Device.Queues.Count, 2 << (sizeChoice % 5), maxIndirectSegments: 8);
        }
    }

    private readonly bool _ownsDevice;

    private static (VirtioDevice, VirtioMmioTransport) Build(GuestMemory memory, DeviceKind kind, bool mergeable, bool warm = true)
    {
        var options = new VirtioDeviceOptions { QueueSize = 256, Processing = QueueProcessing.Inline };
        VirtioDevice device = kind == DeviceKind.Blk
            ? new BlockDevice(memory, s_disk, new BlockDeviceOptions { Device = options, NumQueues = 2, Serial = "fuzz" })
            : new VirtioNetDevice(memory, new LoopbackNetBackend(), new VirtioNetDeviceOptions { MaxQueuePairs = 2, BacklogFrames = 4, MergeableRxBuffers = mergeable }, options);
        var mmio = new VirtioMmioTransport(device);

        // Every queue enabled once (a queue allocates its head tracking at its first enable), then reset: what an
        // input finds is the same whether or not an input before it used this device.
        using (var driver = warm ? new VirtioMmioGuestDriver<int>(mmio, memory, 0, RamSize) : null)
        {
            driver?.Probe(kind == DeviceKind.Blk ? BlkFeatures : NetFeatures, device.Queues.Count, 2, maxIndirectSegments: 8);
        }

        return (device, mmio);
    }

    /// <summary>
    /// The blk devices' disk: a <see cref="MemoryBlockBackend"/> replaced by an empty one at every input, so that
    /// which chunks an input finds allocated (a branch of the backend) does not depend on the inputs before it.
    /// </summary>
    private sealed class FreshDisk : IBlockBackend
    {
        private const ulong Size = 64 * 1024;
        private MemoryBlockBackend _disk = new(Size);

        public ulong Capacity => Size;

        public bool IsReadOnly => false;

        public BlockBackendCapabilities Capabilities => _disk.Capabilities;

        public void Empty() => _disk = new MemoryBlockBackend(Size);

        public void Submit(BlockIo request) => _disk.Submit(request);

        public BlockIoStatus Flush() => ((IBlockBackend)_disk).Flush();

        public void Dispose() => _disk.Dispose();
    }

    public GuardedRam Ram { get; }

    public GuestMemory Memory { get; }

    public VirtioDevice Device { get; }

    public VirtioMmioTransport Mmio { get; }

    public VirtioMmioGuestDriver<int> Driver { get; }

    /// <summary>Reads the header (device kind for mmio, feature mask and queue size otherwise) and sets the device up.</summary>
    public static DeviceTarget Create(GuardedRam ram, string target, ref FuzzInput input)
    {
        byte first = input.U8();
        DeviceKind kind = target switch
        {
            "blk" => DeviceKind.Blk,
            "net" => DeviceKind.Net,
            _ => (first & 0x40) != 0 ? DeviceKind.Net : DeviceKind.Blk,
        };
        return new DeviceTarget(ram, kind, first, input.U8(), probe: target != "mmio");
    }

    public static void Run(GuardedRam ram, string target, ReadOnlySpan<byte> data)
    {
        var input = new FuzzInput(data);
        using DeviceTarget rig = Create(ram, target, ref input);
        while (!input.AtEnd)
        {
            rig.Step(ref input);
        }

        // The driver resets the device, as Linux's remove does: every queue must stop cleanly.
        rig.Mmio.Write(VirtioMmioRegister.Status, 4, 0);
    }

    /// <summary>Runs one command.</summary>
    public void Step(ref FuzzInput input)
    {
        switch (input.U8() % CmdCount)
        {
            case CmdPatch:
                input.Patch(Ram.Bytes);
                break;
            case CmdNotify:
                Mmio.Write(VirtioMmioRegister.QueueNotify, 4, input.U8());
                break;
            case CmdWrite:
                {
                    ulong offset = (ulong)(input.U16() % (VirtioMmioTransport.WindowSize + 16));
                    int size = 1 << (input.U8() % 4);
                    Mmio.Write(offset, size, input.U64());
                    break;
                }

            case CmdRead:
                {
                    ulong offset = (ulong)(input.U16() % (VirtioMmioTransport.WindowSize + 16));
                    _ = Mmio.Read(offset, 1 << (input.U8() % 4));
                    break;
                }

            case CmdPendingKicks:
                Device.ProcessPendingKicks();
                break;
        }
    }

    /// <summary>The driver resets the device (status 0), which the next input finds as a fresh one.</summary>
    public void Dispose()
    {
        Driver.Dispose();
        if (_ownsDevice)
        {
            Device.Dispose();
            Memory.Dispose();
            return;
        }

        // A kick the device did not take (a QueueNotify before DRIVER_OK) outlives the reset, and the next input's
        // first DRIVER_OK or pending-kicks command would serve it: the device a fresh one would be has none.
        foreach (VirtioQueue queue in Device.Queues)
        {
            _ = queue.Kick.TestAndClear();
        }
    }
}
