using System.Buffers.Binary;
using Virtio.Devices.Block;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Rings;
using Virtio.VhostUser;

namespace Virtio.Fuzz;

/// <summary>
/// Seeds of <c>vhost-user-fds</c>: front-end sessions in the order QEMU's <c>vhost_dev_start</c> and this project's
/// <see cref="VhostUserFrontEnd"/> send them (negotiation, memory table, inflight region, ring by ring NUM, BASE, ADDR,
/// CALL, KICK, ENABLE, requests and kicks, GET_VRING_BASE), with the rings built in guest RAM by the Linux-model
/// driver and recorded as the target's RAM patches. User addresses are a fixed base, so the files are the same on
/// every run.
/// </summary>
internal static partial class SeedCorpus
{
    private const ulong UserBase = 0x7f00_0000_0000;
    private const ulong Version1 = 1UL << 32, EventIdx = 1UL << 29, MrgRxBuf = 1UL << 15;
    private const uint NeedReply = VhostUserProtocol.FlagNeedReply;
    private const VhostUserProtocolFeature AllProtocol = VhostUserProtocolFeature.MultiQueue | VhostUserProtocolFeature.ReplyAck
        | VhostUserProtocolFeature.Config | VhostUserProtocolFeature.InflightShmfd | VhostUserProtocolFeature.ConfigureMemSlots;

    private static IEnumerable<(string, byte[])> VhostUserFdsSeeds(GuardedRam ram)
    {
        yield return ("blk-rings", FdsSeed(ram, net: false, (s, ring) =>
        {
            s.Negotiate(Version1 | EventIdx);
            s.Message(VhostUserRequest.GetConfig, 0, [.. U32(0), .. U32(8), .. U32(0), .. new byte[8]]);
            s.MemTable((0, VhostUserFdsTarget.RamSize, UserBase, 0));
            DriverQueue<int> q = ring(0, 8);
            s.BlkRequest(q, VirtioBlkRequestType.Out, 2, 0x8000, 512); // available before the ring starts: served by ENABLE
            s.StartRing(0, 8, 0);
            s.BlkRequest(q, VirtioBlkRequestType.In, 2, 0x9000, 512);
            s.Kick(0);
            s.BlkRequest(q, VirtioBlkRequestType.Flush, 0, 0, 0);
            s.Kick(0);
            s.Message(VhostUserRequest.GetVringBase, 0, State(0, 0));
        }));
        yield return ("blk-inflight-reconnect", FdsSeed(ram, net: false, (s, ring) =>
        {
            s.Negotiate(Version1 | EventIdx);
            s.Message(VhostUserRequest.GetInflightFd, 0, Inflight(0, 2, 8));
            s.Message(VhostUserRequest.SetInflightFd, NeedReply, Inflight(2 * 192, 2, 8)); // the region GET_INFLIGHT_FD returned
            s.MemTable((0, VhostUserFdsTarget.RamSize, UserBase, 0));
            DriverQueue<int> q = ring(0, 8);
            s.StartRing(0, 8, 0);
            s.BlkRequest(q, VirtioBlkRequestType.Out, 8, 0x8000, 512);
            s.Kick(0);
            s.Bytes(VhostUserFdsTarget.CmdReconnect);
            s.Negotiate(Version1 | EventIdx);
            s.Message(VhostUserRequest.SetInflightFd, NeedReply, Inflight(2 * 192, 2, 8));
            s.MemTable((0, VhostUserFdsTarget.RamSize, UserBase, 0));
            s.StartRing(0, 8, 1);
            s.BlkRequest(q, VirtioBlkRequestType.In, 8, 0x9000, 512);
            s.Kick(0);
        }));
        yield return ("blk-inflight-resubmit", FdsSeed(ram, net: false, (s, ring) =>
        {
            // The harness's own region, as a front-end hands a dead back-end's region to its successor: queue 0's
            // record (version 1, 8 descriptors) says head 0 was popped and never completed.
            s.Negotiate(Version1 | EventIdx);
            byte[] record = new byte[32];
            BinaryPrimitives.WriteUInt16LittleEndian(record.AsSpan(8), 1);
            BinaryPrimitives.WriteUInt16LittleEndian(record.AsSpan(10), 8);
            record[16] = 1;
            BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(24), 1);
            s.Bytes(VhostUserFdsTarget.CmdPatchInflight);
            FuzzInput.WritePatch(s.Output, 0, record);
            s.Message(VhostUserRequest.SetInflightFd, NeedReply, Inflight(4096, 1, 8));
            s.MemTable((0, VhostUserFdsTarget.RamSize, UserBase, 0));
            DriverQueue<int> q = ring(0, 8);
            s.BlkRequest(q, VirtioBlkRequestType.Out, 4, 0x8000, 512);
            s.StartRing(0, 8, 1);
            s.Kick(0);
        }));
        yield return ("blk-mem-slots", FdsSeed(ram, net: false, (s, ring) =>
        {
            s.Negotiate(Version1 | EventIdx);
            s.Message(VhostUserRequest.GetMaxMemSlots, 0, []);
            s.Message(VhostUserRequest.AddMemReg, NeedReply, [.. U64(0), .. Region(0, 0x8000, UserBase, 0)]);
            s.Message(VhostUserRequest.AddMemReg, NeedReply, [.. U64(0), .. Region(0x8000, 0x8000, UserBase + 0x8000, 0x8000)]);
            DriverQueue<int> q = ring(0, 8);
            s.StartRing(0, 8, 0);
            s.BlkRequest(q, VirtioBlkRequestType.Out, 1, 0x8000, 512); // data in the second region
            s.Kick(0);
            s.Message(VhostUserRequest.RemMemReg, NeedReply, [.. U64(0), .. Region(0x8000, 0x8000, UserBase + 0x8000, 0x8000)]);
            s.BlkRequest(q, VirtioBlkRequestType.In, 1, 0x9000, 512); // now outside guest memory
            s.Kick(0);
        }));
        yield return ("net-loopback", FdsSeed(ram, net: true, (s, ring) =>
        {
            s.Negotiate(Version1 | EventIdx | MrgRxBuf);
            s.MemTable((0, VhostUserFdsTarget.RamSize, UserBase, 0));
            DriverQueue<int> rx = ring(0, 8), tx = ring(1, 8);
            s.StartRing(0, 8, 0);
            s.StartRing(1, 8, 0);
            s.Driver(rx, [], [(0x8000, 128)]);
            s.Driver(rx, [], [(0x8100, 128)]);
            s.Kick(0);
            byte[] frame = new byte[12 + 60];
            byte[] ethernet = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0x12, 0x34, 0x57, 0x08, 0x00];
            ethernet.CopyTo(frame, 12);
            s.Driver(tx, [(0x9000, (uint)frame.Length, frame)], []);
            s.Kick(1);
            s.Message(VhostUserRequest.GetVringBase, 0, State(1, 0));
        }));
        yield return ("wrong-fds", FdsSeed(ram, net: false, (s, ring) =>
        {
            s.Negotiate(Version1 | EventIdx);
            s.Message(VhostUserRequest.SetMemTable, NeedReply, MemTablePayload((0, VhostUserFdsTarget.RamSize, UserBase, 0)), VhostUserFdsTarget.FdsNone);
            s.Message(VhostUserRequest.SetMemTable, NeedReply, MemTablePayload((0, VhostUserFdsTarget.RamSize, UserBase, 0)), VhostUserFdsTarget.FdsExtra);
            s.Message(VhostUserRequest.SetMemTable, NeedReply, MemTablePayload((0, 2 * VhostUserFdsTarget.RamSize, UserBase, 0))); // past the file's end
            s.MemTable((0, VhostUserFdsTarget.RamSize, UserBase, 0));
            _ = ring(0, 8);
            s.Message(VhostUserRequest.SetVringNum, NeedReply, State(0, 8));
            s.Message(VhostUserRequest.SetVringAddr, NeedReply, VringAddr(0, 8));
            s.Message(VhostUserRequest.SetVringCall, NeedReply, U64(0), VhostUserFdsTarget.FdsChosen | (1 << 2) | (3 << 5)); // two call eventfds
            s.Message(VhostUserRequest.SetVringKick, NeedReply, U64(0), VhostUserFdsTarget.FdsChosen); // guest RAM's memfd as the kick
            s.Message(VhostUserRequest.SetVringEnable, NeedReply, State(0, 1));
            s.Message(VhostUserRequest.SetInflightFd, NeedReply, Inflight(4096, 1, 8), VhostUserFdsTarget.FdsChosen | (3 << 5)); // an eventfd as the region
        }));
    }

    private static byte[] FdsSeed(GuardedRam ram, bool net, Action<FdsScript, Func<int, int, DriverQueue<int>>> script)
    {
        using GuestMemory memory = ram.Fresh();
        var s = new FdsScript(ram, memory);
        s.Bytes(net ? (byte)1 : (byte)0, 0);
        var queues = new List<DriverQueue<int>>();
        script(s, (index, size) =>
        {
            var q = new DriverQueue<int>(memory, RingLayout(index, size), new DriverQueueOptions { EventIdx = true });
            queues.Add(q);
            return q;
        });
        foreach (DriverQueue<int> q in queues)
        {
            q.Dispose();
        }

        return s.ToArray();
    }

    /// <summary>Ring <paramref name="index"/>'s place in guest RAM: 4 KiB apart from 0x1000, packed (alignment 4).</summary>
    private static SplitRingLayout RingLayout(int index, int size) => SplitRingLayout.Create(0x1000 + ((ulong)index * 0x1000), size, 4);

    private static byte[] U32(uint value) => BitConverter.GetBytes(value);

    private static byte[] U64(ulong value) => BitConverter.GetBytes(value);

    private static byte[] State(uint index, uint num) => [.. U32(index), .. U32(num)];

    private static byte[] Region(ulong gpa, ulong size, ulong user, ulong offset) => [.. U64(gpa), .. U64(size), .. U64(user), .. U64(offset)];

    private static byte[] MemTablePayload(params (ulong Gpa, ulong Size, ulong User, ulong Offset)[] regions)
    {
        var p = new List<byte>(U32((uint)regions.Length));
        p.AddRange(U32(0));
        foreach ((ulong gpa, ulong size, ulong user, ulong offset) in regions)
        {
            p.AddRange(Region(gpa, size, user, offset));
        }

        return [.. p];
    }

    private static byte[] Inflight(ulong size, ushort queues, ushort queueSize) => [.. U64(size), .. U64(0), .. BitConverter.GetBytes(queues), .. BitConverter.GetBytes(queueSize), .. U32(0)];

    private static byte[] VringAddr(int index, int size)
    {
        SplitRingLayout l = RingLayout(index, size);
        return [.. U32((uint)index), .. U32(0), .. U64(UserBase + l.DescriptorTable), .. U64(UserBase + l.UsedRing), .. U64(UserBase + l.AvailRing), .. U64(0)];
    }

    /// <summary>Writes the target's commands: messages, RAM the driver changed (as patches), kicks.</summary>
    private sealed class FdsScript(GuardedRam ram, GuestMemory memory) : Recorder(ram, VhostUserFdsTarget.CmdPatch)
    {
        private int _requests;

        public void Message(VhostUserRequest request, uint flags, byte[] payload, byte fds = VhostUserFdsTarget.FdsNatural)
        {
            Bytes(VhostUserFdsTarget.CmdMessage, (byte)request, (byte)flags, fds);
            U16(payload.Length);
            Bytes(payload);
        }

        /// <summary>VhostUserFrontEnd.Negotiate's order, with every protocol feature this back-end has.</summary>
        public void Negotiate(ulong features)
        {
            Message(VhostUserRequest.GetFeatures, 0, []);
            Message(VhostUserRequest.GetProtocolFeatures, 0, []);
            Message(VhostUserRequest.SetProtocolFeatures, 0, SeedCorpus.U64((ulong)AllProtocol));
            Message(VhostUserRequest.SetOwner, NeedReply, []);
            Message(VhostUserRequest.SetFeatures, NeedReply, SeedCorpus.U64(features | VhostUserProtocol.ProtocolFeaturesFeature));
        }

        public void MemTable(params (ulong Gpa, ulong Size, ulong User, ulong Offset)[] regions) =>
            Message(VhostUserRequest.SetMemTable, NeedReply, MemTablePayload(regions));

        /// <summary>VhostUserFrontEnd.StartRing's order: NUM, BASE, ADDR, CALL, KICK, ENABLE.</summary>
        public void StartRing(int index, int size, ushort baseIndex)
        {
            Message(VhostUserRequest.SetVringNum, NeedReply, State((uint)index, (uint)size));
            Message(VhostUserRequest.SetVringBase, NeedReply, State((uint)index, baseIndex));
            Message(VhostUserRequest.SetVringAddr, NeedReply, VringAddr(index, size));
            Message(VhostUserRequest.SetVringCall, NeedReply, SeedCorpus.U64((ulong)index));
            Message(VhostUserRequest.SetVringKick, NeedReply, SeedCorpus.U64((ulong)index));
            Message(VhostUserRequest.SetVringEnable, NeedReply, State((uint)index, 1));
        }

        public void Kick(int ring) => Bytes(VhostUserFdsTarget.CmdKick, (byte)ring);

        /// <summary>A blk request (header, data, status) the driver adds; recorded as the RAM it changed.</summary>
        public void BlkRequest(DriverQueue<int> q, VirtioBlkRequestType type, ulong sector, ulong data, uint length)
        {
            ulong header = 0x6000 + ((ulong)_requests * 32);
            ulong status = header + 16;
            _requests++;
            byte[] h = new byte[VirtioBlkRequestHeader.Size];
            new VirtioBlkRequestHeader(type, sector).Write(h);
            var readable = new List<(ulong, uint, byte[]?)> { (header, (uint)h.Length, h) };
            var writable = new List<(ulong, uint)>();
            if (type == VirtioBlkRequestType.Out)
            {
                readable.Add((data, length, Enumerable.Range(0, (int)length).Select(i => (byte)i).ToArray()));
            }
            else if (length > 0)
            {
                writable.Add((data, length));
            }

            writable.Add((status, 1));
            Driver(q, [.. readable], [.. writable]);
        }

        public void Driver(DriverQueue<int> q, (ulong Address, uint Length, byte[]? Bytes)[] readable, (ulong Address, uint Length)[] writable) => base.Driver(() =>
        {
            foreach ((ulong address, uint _, byte[]? bytes) in readable)
            {
                bytes?.CopyTo(memory.GetSpan(address, bytes.Length));
            }

            GuestSegment[] rs = [.. readable.Select(r => new GuestSegment(r.Address, r.Length))];
            GuestSegment[] ws = [.. writable.Select(w => new GuestSegment(w.Address, w.Length))];
            if (q.Add(rs, ws, 0) != AddResult.Added)
            {
                throw new InvalidOperationException("seed: add failed");
            }

            _ = q.KickPrepare();
        });
    }
}
