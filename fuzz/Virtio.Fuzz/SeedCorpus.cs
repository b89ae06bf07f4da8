using System.Buffers.Binary;
using System.Text;
using Virtio.Device;
using Virtio.Devices.Block;
using Virtio.Devices.Net;
using Virtio.Diagnostics;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Rings;
using Virtio.Transport;

namespace Virtio.Fuzz;

/// <summary>
/// Writes the seed corpus: valid situations built by the real driver side (Linux-model <see cref="DriverQueue{TToken}"/>)
/// and recorded as the targets' commands, so that AFL starts from inputs that reach deep paths (a popped blk write, a
/// merged rx frame, a control command) and mutates from there. Deterministic: the same files every run.
/// </summary>
internal static class SeedCorpus
{
    public static void Write(string directory)
    {
        var ram = new GuardedRam(RingTarget.RamSize);
        Emit(directory, "ring", RingSeeds(ram));
        Emit(directory, "blk", BlkSeeds(ram));
        Emit(directory, "net", NetSeeds(ram));
        Emit(directory, "mmio", MmioSeeds());
        Emit(directory, "analyze", AnalyzeSeeds());
        Emit(directory, "vhost-user", VhostUserSeeds());
    }

    private static void Emit(string directory, string target, IEnumerable<(string Name, byte[] Bytes)> seeds)
    {
        string dir = Path.Combine(directory, target);
        Directory.CreateDirectory(dir);
        foreach ((string name, byte[] bytes) in seeds)
        {
            File.WriteAllBytes(Path.Combine(dir, name), bytes);
        }
    }

    /// <summary>Records the guest RAM a driver operation changed as patch commands, and the target's other commands.</summary>
    private sealed class Recorder(GuardedRam ram, byte patchOp)
    {
        private readonly byte[] _before = new byte[ram.Size];

        public List<byte> Output { get; } = [];

        public void Driver(Action operation)
        {
            ram.Bytes.CopyTo(_before);
            operation();
            ReadOnlySpan<byte> now = ram.Bytes;
            for (int i = 0; i < now.Length;)
            {
                if (now[i] == _before[i])
                {
                    i++;
                    continue;
                }

                int start = i;
                while (i < now.Length && i - start < 255 && (now[i] != _before[i] || (i + 1 < now.Length && now[i + 1] != _before[i + 1])))
                {
                    i++;
                }

                Output.Add(patchOp);
                FuzzInput.WritePatch(Output, start, now[start..i]);
            }
        }

        public void Bytes(params byte[] bytes) => Output.AddRange(bytes);

        public void U16(int value) => Bytes((byte)value, (byte)(value >> 8));

        public void U32(uint value) => Bytes((byte)value, (byte)(value >> 8), (byte)(value >> 16), (byte)(value >> 24));

        public void U64(ulong value)
        {
            U32((uint)value);
            U32((uint)(value >> 32));
        }

        public byte[] ToArray() => [.. Output];
    }

    // ---- ring: the header, then driver-made chains and the device's operations ----

    private static IEnumerable<(string, byte[])> RingSeeds(GuardedRam ram)
    {
        yield return ("direct-chains", RingSeed(ram, size: 8, eventIdx: true, indirect: false, (r, add) =>
        {
            add([16], []);
            add([16, 64], [32]);
            add([], [512]);
            Pop(r, 3);
            r.Bytes(RingTarget.OpPush, 1); r.U32(32);
            r.Bytes(RingTarget.OpFillFlush, 2, 0, 0, 0, 0, 0, 2, 0, 0);
            r.Bytes(RingTarget.OpShouldNotify, RingTarget.OpDiagnose);
        }));
        yield return ("indirect", RingSeed(ram, size: 16, eventIdx: true, indirect: true, (r, add) =>
        {
            add([16, 8, 8], [64, 1]);
            add([16], [4096]);
            Pop(r, 2);
            r.Bytes(RingTarget.OpPush, 0); r.U32(65);
            r.Bytes(RingTarget.OpPush, 0); r.U32(1);
            r.Bytes(RingTarget.OpShouldNotify, RingTarget.OpRecheck);
        }));
        yield return ("flags-rewind", RingSeed(ram, size: 4, eventIdx: false, indirect: false, (r, add) =>
        {
            add([8], [8]);
            add([8], [8]);
            r.Bytes(RingTarget.OpSetNotification, 0);
            Pop(r, 2);
            r.Bytes(RingTarget.OpRewind, 2);
            Pop(r, 1);
            r.Bytes(RingTarget.OpSetNotification, 1, RingTarget.OpRecheck);
            r.Bytes(RingTarget.OpPush, 0); r.U32(8);
            r.Bytes(RingTarget.OpShouldNotify, RingTarget.OpDiagnose);
        }));
        yield return ("near-wrap", RingSeed(ram, size: 4, eventIdx: true, indirect: false, (r, add) =>
        {
            // The device restored at 0xfffe; the driver's avail->idx and ring are rewritten to match.
            r.Bytes(RingTarget.OpSetBase); r.U16(0xfffe);
            r.Bytes(RingTarget.OpPatch); FuzzInput.WritePatch(r.Output, 0x1040 + 2, [0xfe, 0xff]);
            add([8], []);
            add([], [8]);
            add([8], []);

            // avail->idx 0x0001, and the heads 0, 1, 2 in slots 2, 3, 0 (0xfffe, 0xffff, 0x0000 modulo 4).
            r.Bytes(RingTarget.OpPatch); FuzzInput.WritePatch(r.Output, 0x1040 + 2, [0x01, 0x00, 2, 0, 1, 0, 0, 0, 1, 0]);
            Pop(r, 3);
            r.Bytes(RingTarget.OpFillFlush, 3, 8, 0, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0);
            r.Bytes(RingTarget.OpShouldNotify, RingTarget.OpDiagnose);
        }));
        yield return ("burst", RingSeed(ram, size: 8, eventIdx: true, indirect: true, (r, add) =>
        {
            add([16], []);
            add([16, 8], [64]);
            add([], [512]);
            r.Bytes(RingTarget.OpPopBurst, 4);
            for (int i = 0; i < 3; i++)
            {
                r.U16(0);
                r.U16(0);
            }

            r.Bytes(RingTarget.OpPushBurst, 3); r.U32(0); r.U32(64); r.U32(512);
            r.Bytes(RingTarget.OpShouldNotify, RingTarget.OpDiagnose);
        }));
        yield return ("reset", RingSeed(ram, size: 2, eventIdx: true, indirect: false, (r, add) =>
        {
            add([1], []);
            Pop(r, 1);
            r.Bytes(RingTarget.OpReset, 3, 0, 1);
            r.U32(0x1000); r.U32(0x1020); r.U32(0x1040);
            Pop(r, 1);
            r.Bytes(RingTarget.OpDiagnose);
        }));
    }

    private static byte[] RingSeed(GuardedRam ram, int size, bool eventIdx, bool indirect, Action<Recorder, Action<int[], int[]>> script)
    {
        using GuestMemory memory = ram.Fresh();
        SplitRingLayout layout = SplitRingLayout.Create(0x1000, size, 4);
        var r = new Recorder(ram, RingTarget.OpPatch);
        r.Bytes((byte)((eventIdx ? 1 : 0) | (indirect ? 2 : 0)), 2, (byte)int.Log2(size));
        r.U32((uint)layout.DescriptorTable); r.U32((uint)layout.AvailRing); r.U32((uint)layout.UsedRing);
        using var driver = new DriverQueue<int>(memory, layout, new DriverQueueOptions
        {
            EventIdx = eventIdx, IndirectDescriptors = indirect, IndirectTableArea = indirect ? 0x4000UL : 0, MaxIndirectSegments = 8,
        });
        ulong next = 0x8000;
        GuestSegment Allocate(int length, bool fill)
        {
            var s = new GuestSegment(next, (uint)length);
            next += (ulong)((length + 15) & ~15);
            if (fill)
            {
                memory.GetSpan(s.Address, length).Fill(0x5a);
            }

            return s;
        }

        script(r, (readable, writable) => r.Driver(() =>
        {
            GuestSegment[] rs = [.. readable.Select(n => Allocate(n, fill: true))];
            GuestSegment[] ws = [.. writable.Select(n => Allocate(n, fill: false))];
            _ = driver.Add(rs, ws, 0);
            _ = driver.KickPrepare();
        }));
        return r.ToArray();
    }

    private static void Pop(Recorder r, int count)
    {
        for (int i = 0; i < count; i++)
        {
            r.Bytes(RingTarget.OpPop);
            r.U16(0);
            r.U16(0);
        }
    }

    // ---- blk and net: a probed device, requests the driver builds, QueueNotify ----

    private static byte[] DeviceSeed(GuardedRam ram, string target, byte features, byte sizeChoice, Action<Recorder, DeviceTarget> script)
    {
        byte[] header = [features, sizeChoice];
        var input = new FuzzInput(header);
        using DeviceTarget rig = DeviceTarget.Create(ram, target, ref input);
        var r = new Recorder(ram, DeviceTarget.CmdPatch);
        r.Bytes(header);
        script(r, rig);
        return r.ToArray();
    }

    /// <summary>Adds a request the driver builds (readable parts filled with <paramref name="content"/>) and kicks.</summary>
    private static void Request(Recorder r, DeviceTarget rig, int queue, byte[][] readable, int[] writable)
    {
        r.Driver(() =>
        {
            GuestSegment[] rs = [.. readable.Select(b =>
            {
                ulong a = rig.Driver.Allocate((ulong)Math.Max(b.Length, 1));
                b.CopyTo(rig.Memory.GetSpan(a, b.Length));
                return new GuestSegment(a, (uint)b.Length);
            })];
            GuestSegment[] ws = [.. writable.Select(n => new GuestSegment(rig.Driver.Allocate((ulong)n), (uint)n))];
            AddResult added = rig.Driver.Queues[queue].Add(rs, ws, 0);
            if (added != AddResult.Added)
            {
                throw new InvalidOperationException($"seed: add failed: {added}");
            }

            _ = rig.Driver.Queues[queue].KickPrepare();
        });
        r.Bytes(DeviceTarget.CmdNotify, (byte)queue);
        rig.Mmio.Write(VirtioMmioRegister.QueueNotify, 4, (ulong)queue);
    }

    private static byte[] BlkHeader(VirtioBlkRequestType type, ulong sector)
    {
        byte[] h = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(h, (uint)type);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(8), sector);
        return h;
    }

    private static byte[] BlkRange(ulong sector, uint sectors, uint flags)
    {
        byte[] s = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(s, sector);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(8), sectors);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(12), flags);
        return s;
    }

    private static IEnumerable<(string, byte[])> BlkSeeds(GuardedRam ram)
    {
        byte[] data = [.. Enumerable.Range(0, 1024).Select(i => (byte)i)];
        yield return ("write-read", DeviceSeed(ram, "blk", 0, 2, (r, rig) =>
        {
            Request(r, rig, 0, [BlkHeader(VirtioBlkRequestType.Out, 2), data[..512], data[512..]], [1]);
            Request(r, rig, 0, [BlkHeader(VirtioBlkRequestType.In, 2)], [512, 512, 1]);
            Request(r, rig, 0, [BlkHeader(VirtioBlkRequestType.Flush, 0)], [1]);
        }));
        yield return ("id-discard-zeroes", DeviceSeed(ram, "blk", 0, 3, (r, rig) =>
        {
            Request(r, rig, 0, [BlkHeader(VirtioBlkRequestType.GetId, 0)], [20, 1]);
            Request(r, rig, 0, [BlkHeader(VirtioBlkRequestType.Discard, 0), BlkRange(8, 8, 0)], [1]);
            Request(r, rig, 1, [BlkHeader(VirtioBlkRequestType.WriteZeroes, 0), BlkRange(16, 4, 1), BlkRange(32, 1, 0)], [1]);
        }));
        yield return ("no-event-idx-direct", DeviceSeed(ram, "blk", 3, 3, (r, rig) =>
        {
            Request(r, rig, 0, [BlkHeader(VirtioBlkRequestType.Out, 127), data[..512]], [1]);
            Request(r, rig, 0, [BlkHeader(VirtioBlkRequestType.In, 128)], [512, 1]);
            Request(r, rig, 0, [BlkHeader((VirtioBlkRequestType)99, 0)], [1]);
            Request(r, rig, 0, [data[..8]], [1]);
        }));
    }

    private static byte[] EthernetFrame(int length)
    {
        byte[] f = new byte[length];
        byte[] head = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0x12, 0x34, 0x57, 0x08, 0x00];
        head.CopyTo(f, 0);
        for (int i = head.Length; i < length; i++)
        {
            f[i] = (byte)i;
        }

        return f;
    }

    private static IEnumerable<(string, byte[])> NetSeeds(GuardedRam ram)
    {
        byte[] hdr = new byte[12];
        byte[] csumHdr = new byte[12];
        csumHdr[0] = 1; // NEEDS_CSUM
        BinaryPrimitives.WriteUInt16LittleEndian(csumHdr.AsSpan(6), 34); // csum_start
        BinaryPrimitives.WriteUInt16LittleEndian(csumHdr.AsSpan(8), 6); // csum_offset
        yield return ("mrg-rx-tx-loop", DeviceSeed(ram, "net", 0, 2, (r, rig) =>
        {
            Request(r, rig, 0, [], [64]);
            Request(r, rig, 0, [], [64]);
            Request(r, rig, 0, [], [64]);
            Request(r, rig, 1, [hdr, EthernetFrame(100)], []);
            Request(r, rig, 1, [[.. csumHdr, .. EthernetFrame(60)]], []);
        }));
        yield return ("no-mrg-rx-tx", DeviceSeed(ram, "net", 0x80, 2, (r, rig) =>
        {
            Request(r, rig, 0, [], [12, 200]);
            Request(r, rig, 1, [hdr, EthernetFrame(60)], []);
        }));
        yield return ("ctrl", DeviceSeed(ram, "net", 0, 3, (r, rig) =>
        {
            Request(r, rig, 4, [[0, 0], [1]], [1]); // RX PROMISC on
            Request(r, rig, 4, [[1, 1], [2, 0, 0, 0, 0, 1]], [1]); // MAC ADDR_SET
            Request(r, rig, 4, [[4, 0], [2, 0]], [1]); // MQ VQ_PAIRS_SET 2
            Request(r, rig, 4, [[3, 0]], [1]); // ANNOUNCE ACK
            Request(r, rig, 4, [[9, 9]], [1]); // unknown class
            Request(r, rig, 3, [hdr, EthernetFrame(60)], []); // tx on the second pair
        }));
    }

    // ---- mmio: a driver's probe as register writes, one blk read built by hand, then config and interrupts ----

    private static IEnumerable<(string, byte[])> MmioSeeds()
    {
        foreach ((string name, byte kind) in new[] { ("blk-probe-read", (byte)0), ("net-probe", (byte)0x40) })
        {
            var r = new Recorder(new GuardedRam(4096), DeviceTarget.CmdPatch);
            r.Bytes(kind, 0);
            void Write(int register, ulong value)
            {
                r.Bytes(DeviceTarget.CmdWrite);
                r.U16(register);
                r.Bytes(2);
                r.U64(value);
            }

            void Read(int register, byte sizeCode)
            {
                r.Bytes(DeviceTarget.CmdRead);
                r.U16(register);
                r.Bytes(sizeCode);
            }

            Read(VirtioMmioRegister.MagicValue, 2);
            Write(VirtioMmioRegister.Status, 0);
            Write(VirtioMmioRegister.Status, 1);
            Write(VirtioMmioRegister.Status, 3);
            Write(VirtioMmioRegister.DeviceFeaturesSel, 0);
            Read(VirtioMmioRegister.DeviceFeatures, 2);
            Write(VirtioMmioRegister.DriverFeaturesSel, 0);
            Write(VirtioMmioRegister.DriverFeatures, VirtioFeature.RingEventIdx);
            Write(VirtioMmioRegister.DriverFeaturesSel, 1);
            Write(VirtioMmioRegister.DriverFeatures, 1);
            Write(VirtioMmioRegister.Status, 11);
            Read(VirtioMmioRegister.Status, 2);
            Write(VirtioMmioRegister.QueueSel, 0);
            Read(VirtioMmioRegister.QueueNumMax, 2);
            Write(VirtioMmioRegister.QueueNum, 8);
            Write(VirtioMmioRegister.QueueDescLow, 0x1000);
            Write(VirtioMmioRegister.QueueDescHigh, 0);
            Write(VirtioMmioRegister.QueueDriverLow, 0x1100);
            Write(VirtioMmioRegister.QueueDeviceLow, 0x1200);
            Write(VirtioMmioRegister.QueueReady, 1);
            Write(VirtioMmioRegister.Status, 15);

            // desc[0] header (16 bytes at 0x2000), desc[1] 512 writable bytes at 0x3000, desc[2] the status byte.
            byte[] desc = new byte[48];
            void Desc(int i, ulong addr, uint len, ushort flags, ushort next)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(desc.AsSpan(16 * i), addr);
                BinaryPrimitives.WriteUInt32LittleEndian(desc.AsSpan((16 * i) + 8), len);
                BinaryPrimitives.WriteUInt16LittleEndian(desc.AsSpan((16 * i) + 12), flags);
                BinaryPrimitives.WriteUInt16LittleEndian(desc.AsSpan((16 * i) + 14), next);
            }

            Desc(0, 0x2000, 16, 1, 1);
            Desc(1, 0x3000, 512, 3, 2);
            Desc(2, 0x3200, 1, 2, 0);
            r.Bytes(DeviceTarget.CmdPatch);
            FuzzInput.WritePatch(r.Output, 0x1000, desc);
            r.Bytes(DeviceTarget.CmdPatch);
            FuzzInput.WritePatch(r.Output, 0x1100, [0, 0, 1, 0, 0, 0]);
            r.Bytes(DeviceTarget.CmdPatch);
            FuzzInput.WritePatch(r.Output, 0x2000, BlkHeader(VirtioBlkRequestType.In, 0));
            Write(VirtioMmioRegister.QueueNotify, 0);
            Read(VirtioMmioRegister.InterruptStatus, 2);
            Write(VirtioMmioRegister.InterruptAck, 1);
            Read(VirtioMmioRegister.ConfigGeneration, 2);
            Read(VirtioMmioRegister.Config, 3);
            Read(VirtioMmioRegister.Config + 8, 0);
            Write(VirtioMmioRegister.Config + 32, 1);
            Write(VirtioMmioRegister.Status, 0);
            yield return (name, r.ToArray());
        }
    }

    // ---- analyze: what `virtio repro --dump` writes, for a small ring in a small dump ----

    private static IEnumerable<(string, byte[])> AnalyzeSeeds()
    {
        foreach ((string name, bool eventIdx, int pushed) in new[] { ("healthy", true, 2), ("device-stuck", true, 0), ("no-event-idx", false, 1) })
        {
            using GuestMemory memory = GuestMemory.Create(0x800);
            SplitRingLayout layout = SplitRingLayout.Create(0x100, 8, 4);
            using var driver = new DriverQueue<int>(memory, layout, new DriverQueueOptions { EventIdx = eventIdx });
            var queue = new SplitQueue(memory, 8, 0, "virtio-blk")
            {
                DescriptorTableAddress = layout.DescriptorTable, AvailRingAddress = layout.AvailRing, UsedRingAddress = layout.UsedRing, EventIdx = eventIdx,
            };
            _ = queue.Enable();
            for (int i = 0; i < 2; i++)
            {
                _ = driver.Add([new GuestSegment(0x400 + (ulong)(i * 64), 16)], [new GuestSegment(0x600 + (ulong)(i * 64), 1)], i);
                _ = driver.Kick();
            }

            for (int i = 0; i < 2 && queue.Pop(out DescriptorChain chain) == PopResult.Chain; i++)
            {
                if (i < pushed)
                {
                    queue.Push(chain, 1);
                }
            }

            string queueJson = QueueStatus.Capture(queue, "virtio-blk").ToQmpReplyJson();
            string virtioJson = "{\"return\":{\"name\":\"virtio-blk\",\"device-id\":2,\"broken\":false,\"num-vqs\":1,\"guest-features\":{\"transports\":[" + (eventIdx ? "\"VIRTIO_RING_F_EVENT_IDX: Used & avail event fields are supported\"" : "") + "]}}}";
            using var dump = new MemoryStream();
            memory.Dump(dump);
            byte[] q = Encoding.UTF8.GetBytes(queueJson), v = Encoding.UTF8.GetBytes(virtioJson);
            var r = new List<byte> { (byte)q.Length, (byte)(q.Length >> 8), (byte)v.Length, (byte)(v.Length >> 8) };
            r.AddRange(q);
            r.AddRange(v);
            r.AddRange(dump.ToArray());
            yield return (name, [.. r]);
        }
    }

    // ---- vhost-user: the front-end's first messages, as QEMU sends them (no file descriptors) ----

    private static IEnumerable<(string, byte[])> VhostUserSeeds()
    {
        static void Message(List<byte> m, uint request, uint flags, params byte[] payload)
        {
            Span<byte> h = stackalloc byte[12];
            BinaryPrimitives.WriteUInt32LittleEndian(h, request);
            BinaryPrimitives.WriteUInt32LittleEndian(h[4..], 1 | flags);
            BinaryPrimitives.WriteUInt32LittleEndian(h[8..], (uint)payload.Length);
            m.AddRange(h);
            m.AddRange(payload);
        }

        static byte[] U64(ulong v) => BitConverter.GetBytes(v);
        static byte[] State(uint index, uint num) => [.. BitConverter.GetBytes(index), .. BitConverter.GetBytes(num)];

        var setup = new List<byte>();
        Message(setup, 1, 0); // GET_FEATURES
        Message(setup, 15, 0); // GET_PROTOCOL_FEATURES
        Message(setup, 16, 0, U64(0x3f)); // SET_PROTOCOL_FEATURES
        Message(setup, 17, 0); // GET_QUEUE_NUM
        Message(setup, 36, 0); // GET_MAX_MEM_SLOTS
        Message(setup, 3, 0); // SET_OWNER
        Message(setup, 2, 0, U64((1UL << 32) | (1UL << 29) | (1UL << 30))); // SET_FEATURES
        Message(setup, 24, 0, [.. BitConverter.GetBytes(0u), .. BitConverter.GetBytes(60u), .. BitConverter.GetBytes(0u), .. new byte[60]]); // GET_CONFIG
        yield return ("setup", [.. setup]);

        var rings = new List<byte>(setup);
        Message(rings, 8, 0, State(0, 128)); // SET_VRING_NUM
        Message(rings, 10, 0, State(0, 0)); // SET_VRING_BASE
        Message(rings, 9, 0, [.. BitConverter.GetBytes(0u), .. BitConverter.GetBytes(0u), .. U64(0x10000), .. U64(0x12000), .. U64(0x11000), .. U64(0)]); // SET_VRING_ADDR
        Message(rings, 12, 0, U64(0x100)); // SET_VRING_KICK, no fd
        Message(rings, 13, 0, U64(0x100)); // SET_VRING_CALL, no fd
        Message(rings, 18, 0x8, State(0, 1)); // SET_VRING_ENABLE, need reply
        Message(rings, 11, 0, State(0, 0)); // GET_VRING_BASE
        Message(rings, 5, 0, [.. BitConverter.GetBytes(1u), .. BitConverter.GetBytes(0u), .. U64(0), .. U64(0x100000), .. U64(0x7f0000000000), .. U64(0)]); // SET_MEM_TABLE without its fd
        Message(rings, 40, 0); // GET_STATUS
        Message(rings, 39, 0, U64(15)); // SET_STATUS
        Message(rings, 34, 0); // RESET_DEVICE
        yield return ("rings-no-fds", [.. rings]);

        var bad = new List<byte>();
        Message(bad, 99, 0, U64(1));
        Message(bad, 2, 0, [1, 2, 3]); // short payload
        yield return ("bad-request", [.. bad]);
    }
}
