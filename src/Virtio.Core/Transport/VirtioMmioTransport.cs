using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Virtio.Device;
using Virtio.Rings;

namespace Virtio.Transport;

/// <summary>
/// The virtio-mmio transport, register layout version 2 (VIRTIO 1.x section 4.2): what a VMM's MMIO exit handler
/// calls for accesses to the device's 0x200-byte window. Bad accesses (wrong width, misaligned, writes to read-only
/// registers, reads of write-only ones, queue setup while the queue is ready, sizes above the maximum) are logged and
/// ignored, as QEMU's <c>virtio_mmio_read</c>/<c>virtio_mmio_write</c> do; nothing the guest does here throws.
/// </summary>
/// <remarks>Accesses must be serialized by the caller (one vCPU exit at a time for this device).</remarks>
public sealed class VirtioMmioTransport
{
    /// <summary>The vendor ID QEMU reports ("QEMU").</summary>
    public const uint DefaultVendorId = 0x554d4551;

    /// <summary>Bytes of the register window including the config space the device has.</summary>
    public const int WindowSize = 0x200;

    private readonly ILogger _logger;
    private uint _deviceFeaturesSel;
    private uint _driverFeaturesSel;
    private uint _queueSel;

    /// <summary>Exposes <paramref name="device"/> over virtio-mmio.</summary>
    public VirtioMmioTransport(VirtioDevice device, ILoggerFactory? loggerFactory = null, uint vendorId = DefaultVendorId)
    {
        ArgumentNullException.ThrowIfNull(device);
        Device = device;
        VendorId = vendorId;
        _logger = loggerFactory?.CreateLogger("Virtio.Transport.Mmio." + device.Name) ?? NullLogger.Instance;
    }

    /// <summary>The device behind the window.</summary>
    public VirtioDevice Device { get; }

    /// <summary>The VendorID register's value.</summary>
    public uint VendorId { get; }

    /// <summary>Accesses that were refused (logged and ignored).</summary>
    public long BadAccesses { get; private set; }

    /// <summary>Reads <paramref name="size"/> bytes (1, 2, 4 or 8) at <paramref name="offset"/> in the window.</summary>
    /// <returns>The value, little-endian in the low bytes; 0 for a refused access.</returns>
    public ulong Read(ulong offset, int size)
    {
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            MmioLog.Read(_logger, Device.Name, offset);
        }

        if (offset >= VirtioMmioRegister.Config)
        {
            return ReadConfig(offset - VirtioMmioRegister.Config, size);
        }

        if (size != 4 || (offset & 3) != 0)
        {
            return Refuse("wrong size access to register", offset, size);
        }

        VirtioQueue? queue = SelectedQueue;
        return (int)offset switch
        {
            VirtioMmioRegister.MagicValue => VirtioMmioRegister.Magic,
            VirtioMmioRegister.Version => 2,
            VirtioMmioRegister.DeviceId => Device.DeviceId,
            VirtioMmioRegister.VendorId => VendorId,
            VirtioMmioRegister.DeviceFeatures => _deviceFeaturesSel < 2 ? (uint)(Device.DeviceFeatures >> (32 * (int)_deviceFeaturesSel)) : 0,
            VirtioMmioRegister.QueueNumMax => (uint)(queue?.Ring.MaxSize ?? 0),
            VirtioMmioRegister.QueueReady => queue?.Ring.IsReady == true ? 1u : 0u,
            VirtioMmioRegister.InterruptStatus => (uint)Device.InterruptStatus,
            VirtioMmioRegister.Status => (uint)Device.Status,
            VirtioMmioRegister.QueueDescLow => (uint)(queue?.Ring.DescriptorTableAddress ?? 0),
            VirtioMmioRegister.QueueDescHigh => (uint)((queue?.Ring.DescriptorTableAddress ?? 0) >> 32),
            VirtioMmioRegister.QueueDriverLow => (uint)(queue?.Ring.AvailRingAddress ?? 0),
            VirtioMmioRegister.QueueDriverHigh => (uint)((queue?.Ring.AvailRingAddress ?? 0) >> 32),
            VirtioMmioRegister.QueueDeviceLow => (uint)(queue?.Ring.UsedRingAddress ?? 0),
            VirtioMmioRegister.QueueDeviceHigh => (uint)((queue?.Ring.UsedRingAddress ?? 0) >> 32),
            VirtioMmioRegister.ShmLenLow or VirtioMmioRegister.ShmLenHigh
                or VirtioMmioRegister.ShmBaseLow or VirtioMmioRegister.ShmBaseHigh => uint.MaxValue, // no shared memory regions
            VirtioMmioRegister.ConfigGeneration => Device.ConfigGeneration,
            VirtioMmioRegister.DeviceFeaturesSel or VirtioMmioRegister.DriverFeatures or VirtioMmioRegister.DriverFeaturesSel
                or VirtioMmioRegister.QueueSel or VirtioMmioRegister.QueueNum or VirtioMmioRegister.QueueNotify
                or VirtioMmioRegister.InterruptAck or VirtioMmioRegister.ShmSel => Refuse("read of write-only register", offset, size),
            _ => Refuse("read of unknown register", offset, size),
        };
    }

    /// <summary>Writes <paramref name="size"/> bytes (1, 2, 4 or 8) of <paramref name="value"/> at <paramref name="offset"/>.</summary>
    /// <returns>False when the access was refused (logged and ignored).</returns>
    public bool Write(ulong offset, int size, ulong value)
    {
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            MmioLog.Write(_logger, Device.Name, offset, value);
        }

        if (offset >= VirtioMmioRegister.Config)
        {
            return WriteConfig(offset - VirtioMmioRegister.Config, size, value);
        }

        if (size != 4 || (offset & 3) != 0)
        {
            return Refused("wrong size access to register", offset, size);
        }

        uint v = (uint)value;
        switch ((int)offset)
        {
            case VirtioMmioRegister.DeviceFeaturesSel:
                _deviceFeaturesSel = v;
                return true;
            case VirtioMmioRegister.DriverFeaturesSel:
                _driverFeaturesSel = v;
                return true;
            case VirtioMmioRegister.DriverFeatures:
                return WriteDriverFeatures(v, offset);
            case VirtioMmioRegister.QueueSel:
                _queueSel = v;
                return true;
            case VirtioMmioRegister.QueueNum:
                return WriteQueueNum(v, offset);
            case VirtioMmioRegister.QueueReady:
                return WriteQueueReady(v, offset);
            case VirtioMmioRegister.QueueNotify:
                return Device.Notify((int)Math.Min(v, int.MaxValue)) || Refused("notify of a queue that does not exist", offset, size);
            case VirtioMmioRegister.InterruptAck:
                Device.AcknowledgeInterrupt((InterruptReason)(v & 3));
                return true;
            case VirtioMmioRegister.Status:
                Device.WriteStatus((DeviceStatus)(byte)v);
                if (v == 0)
                {
                    ResetRegisters();
                }

                return true;
            case VirtioMmioRegister.QueueDescLow:
            case VirtioMmioRegister.QueueDescHigh:
            case VirtioMmioRegister.QueueDriverLow:
            case VirtioMmioRegister.QueueDriverHigh:
            case VirtioMmioRegister.QueueDeviceLow:
            case VirtioMmioRegister.QueueDeviceHigh:
                return WriteQueueAddress((int)offset, v);
            case VirtioMmioRegister.ShmSel:
                return true;
            case VirtioMmioRegister.MagicValue:
            case VirtioMmioRegister.Version:
            case VirtioMmioRegister.DeviceId:
            case VirtioMmioRegister.VendorId:
            case VirtioMmioRegister.DeviceFeatures:
            case VirtioMmioRegister.QueueNumMax:
            case VirtioMmioRegister.InterruptStatus:
            case VirtioMmioRegister.ConfigGeneration:
            case VirtioMmioRegister.ShmLenLow:
            case VirtioMmioRegister.ShmLenHigh:
            case VirtioMmioRegister.ShmBaseLow:
            case VirtioMmioRegister.ShmBaseHigh:
                return Refused("write to read-only register", offset, size);
            default:
                return Refused("write to unknown register", offset, size);
        }
    }

    /// <summary>Reads into <paramref name="data"/> (its length is the access size), for exit handlers that pass bytes.</summary>
    public void Read(ulong offset, Span<byte> data)
    {
        ulong value = Read(offset, data.Length);
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        bytes[..Math.Min(8, data.Length)].CopyTo(data);
    }

    /// <summary>Writes <paramref name="data"/> (its length is the access size), for exit handlers that pass bytes.</summary>
    public bool Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.Length is not (1 or 2 or 4 or 8))
        {
            return Refused("wrong size access", offset, data.Length);
        }

        Span<byte> bytes = stackalloc byte[8];
        bytes.Clear();
        data.CopyTo(bytes);
        return Write(offset, data.Length, BinaryPrimitives.ReadUInt64LittleEndian(bytes));
    }

    private VirtioQueue? SelectedQueue => _queueSel < (uint)Device.Queues.Count ? Device.Queues[(int)_queueSel] : null;

    private ulong ReadConfig(ulong offset, int size)
    {
        if (size is not (1 or 2 or 4 or 8))
        {
            return Refuse("wrong size access to config space", offset + VirtioMmioRegister.Config, size);
        }

        Span<byte> bytes = stackalloc byte[8];
        bytes.Clear();
        if (offset < (ulong)Device.ConfigSize)
        {
            Device.ReadConfig((int)offset, bytes[..size]);
        }

        return BinaryPrimitives.ReadUInt64LittleEndian(bytes);
    }

    private bool WriteConfig(ulong offset, int size, ulong value)
    {
        if (size is not (1 or 2 or 4 or 8) || offset >= (ulong)Device.ConfigSize)
        {
            return Refused("bad config space write", offset + VirtioMmioRegister.Config, size);
        }

        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return Device.WriteConfig((int)offset, bytes[..size]);
    }

    private bool WriteDriverFeatures(uint value, ulong offset)
    {
        if (_driverFeaturesSel >= 2)
        {
            return Refused("driver features word above 1", offset, 4);
        }

        int shift = 32 * (int)_driverFeaturesSel;
        ulong features = (Device.DriverFeatures & ~(0xffff_ffffUL << shift)) | ((ulong)value << shift);
        return Device.SetDriverFeatures(features) || Refused("driver features written after FEATURES_OK", offset, 4);
    }

    private bool WriteQueueNum(uint value, ulong offset)
    {
        if (SelectedQueue is not { } queue)
        {
            return Refused("queue size for a queue that does not exist", offset, 4);
        }

        if (queue.Ring.IsReady)
        {
            return Refused("queue size written while the queue is ready", offset, 4);
        }

        // As QEMU's virtio_queue_set_num: a size of 0 or above the maximum is ignored; a size that is not a power of
        // two is kept and refused when the queue is made ready (a device error, as the spec requires a power of two).
        if (value == 0 || value > (uint)queue.Ring.MaxSize)
        {
            MmioLog.QueueNumRefused(_logger, Device.Name, queue.Index, value, queue.Ring.MaxSize);
            BadAccesses++;
            return false;
        }

        queue.Ring.Size = (int)value;
        return true;
    }

    private bool WriteQueueReady(uint value, ulong offset)
    {
        if (SelectedQueue is not { } queue)
        {
            return Refused("queue ready for a queue that does not exist", offset, 4);
        }

        if ((value & 1) != 0)
        {
            return Device.EnableQueue(queue.Index);
        }

        Device.DisableQueue(queue.Index);
        return true;
    }

    private bool WriteQueueAddress(int offset, uint value)
    {
        if (SelectedQueue is not { } queue)
        {
            return Refused("queue address for a queue that does not exist", (ulong)offset, 4);
        }

        SplitQueue ring = queue.Ring;
        if (ring.IsReady)
        {
            return Refused("queue address written while the queue is ready", (ulong)offset, 4);
        }

        bool high = (offset & 4) != 0;
        static ulong Set(ulong old, uint v, bool high) =>
            high ? (old & 0xffff_ffffUL) | ((ulong)v << 32) : (old & ~0xffff_ffffUL) | v;
        switch (offset & ~4)
        {
            case VirtioMmioRegister.QueueDescLow:
                ring.DescriptorTableAddress = Set(ring.DescriptorTableAddress, value, high);
                break;
            case VirtioMmioRegister.QueueDriverLow:
                ring.AvailRingAddress = Set(ring.AvailRingAddress, value, high);
                break;
            default:
                ring.UsedRingAddress = Set(ring.UsedRingAddress, value, high);
                break;
        }

        return true;
    }

    private void ResetRegisters()
    {
        _deviceFeaturesSel = 0;
        _driverFeaturesSel = 0;
        _queueSel = 0;
    }

    private ulong Refuse(string error, ulong offset, int size)
    {
        Refused(error, offset, size);
        return 0;
    }

    private bool Refused(string error, ulong offset, int size)
    {
        BadAccesses++;
        MmioLog.GuestError(_logger, Device.Name, error, offset, size);
        return false;
    }
}
