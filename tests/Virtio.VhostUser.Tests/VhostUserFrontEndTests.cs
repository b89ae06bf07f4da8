using System.Buffers.Binary;
using System.Diagnostics;
using Virtio.Devices.Block;
using Virtio.Driver;
using Virtio.Rings;
using Virtio.VhostUser.Interop;
using Virtio.VhostUser.Tests.Support;

namespace Virtio.VhostUser.Tests;

/// <summary>The front-end (a C# VMM's view) against this project's back-end in process, and against QEMU's.</summary>
public sealed class VhostUserFrontEndTests
{
    private const ulong Version1 = 1UL << 32;
    private const ulong EventIdx = 1UL << 29;

    /// <summary>Negotiates, shares RAM, starts ring 0, writes then reads one 4 KiB block; returns the capacity in sectors.</summary>
    private static ulong WriteAndReadBack(VhostUserFrontEnd fe, byte fill)
    {
        ulong features = fe.Negotiate(Version1 | EventIdx);
        Assert.NotEqual(0ul, features & Version1);
        Span<byte> capacity = stackalloc byte[8];
        fe.GetConfig(0, capacity);

        using SharedGuestMemory ram = SharedGuestMemory.Create(1 << 20);
        fe.SetMemTable(ram);
        var layout = SplitRingLayout.Create(0x1000, size: 128);
        using var driver = new DriverQueue<int>(ram.Memory, layout, new DriverQueueOptions { EventIdx = (features & EventIdx) != 0 });
        using var kick = new EventFdNotifier();
        using var call = new EventFdNotifier();
        driver.KickChannel = kick;
        fe.StartRing(0, layout, 128, ram, kick, call);

        ram.Memory.GetSpan(0x40000, 4096).Fill(fill);
        Assert.Equal(0, Request(ram, driver, call, type: 1));
        ram.Memory.GetSpan(0x40000, 4096).Clear();
        Assert.Equal(0, Request(ram, driver, call, type: 0));
        Assert.True(ram.Memory.GetSpan(0x40000, 4096).ToArray().All(b => b == fill));
        Assert.Equal(2, fe.StopRing(0));
        return BinaryPrimitives.ReadUInt64LittleEndian(capacity);
    }

    private static byte Request(SharedGuestMemory ram, DriverQueue<int> driver, EventFdNotifier call, uint type)
    {
        ram.Memory.Write(0x80000, type);
        ram.Memory.Write(0x80004, 0u);
        ram.Memory.Write(0x80008, 8ul);
        ram.Memory.Write<byte>(0x80010, 0xff);
        GuestSegment header = new(0x80000, 16), status = new(0x80010, 1), data = new(0x40000, 4096);
        Assert.Equal(AddResult.Added, type == 1 ? driver.Add([header, data], [status], 1) : driver.Add([header], [data, status], 1));
        driver.Kick();

        // A call may be spurious: libvhost-user signals every new call fd once (vu_set_vring_call_exec), as a
        // virtio interrupt handler must expect.
        var deadline = Stopwatch.StartNew();
        int token;
        do
        {
            Assert.True(call.Wait(30_000), "no used-buffer notification");
            call.TestAndClear();
        }
        while (!driver.TryGetBuffer(out token, out _) && deadline.Elapsed < TimeSpan.FromSeconds(30));

        Assert.Equal(1, token);
        return ram.Memory.Read<byte>(0x80010);
    }

    [Fact]
    public void The_front_end_drives_this_projects_back_end_in_process()
    {
        using var backend = new VhostUserBackend(memory => new BlockDevice(memory, new MemoryBlockBackend(8 << 20)));
        (FileDescriptor mine, FileDescriptor theirs) = UnixSocket.Pair();
        var server = new Thread(() => backend.Serve(theirs));
        server.Start();
        using (VhostUserFrontEnd fe = VhostUserFrontEnd.FromSocket(mine))
        {
            Assert.Equal((8ul << 20) / 512, WriteAndReadBack(fe, 0xa5));
            Assert.Equal(1, fe.GetQueueNum());
        }

        Assert.True(server.Join(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void A_refused_request_throws()
    {
        using var backend = new VhostUserBackend(memory => new BlockDevice(memory, new MemoryBlockBackend(1 << 20)));
        (FileDescriptor mine, FileDescriptor theirs) = UnixSocket.Pair();
        var server = new Thread(() => backend.Serve(theirs));
        server.Start();
        using (VhostUserFrontEnd fe = VhostUserFrontEnd.FromSocket(mine))
        {
            fe.Negotiate(Version1);
            using SharedGuestMemory ram = SharedGuestMemory.Create(1 << 20);
            using var kick = new EventFdNotifier();
            using var call = new EventFdNotifier();
            // A ring larger than the back-end allows (256).
            Assert.Throws<VhostUserException>(() => fe.StartRing(0, SplitRingLayout.Create(0x1000, size: 512), 512, ram, kick, call));
        }

        Assert.True(server.Join(TimeSpan.FromSeconds(30)));
    }

    [QemuStorageDaemonFact]
    public void The_front_end_drives_qemu_storage_daemon()
    {
        string dir = Directory.CreateTempSubdirectory("vhost-qsd").FullName;
        string socket = Path.Combine(dir, "qsd.sock");
        File.WriteAllBytes(Path.Combine(dir, "disk.img"), new byte[1 << 20]);

        // The pid file appearing (inotify) is the signal that the export listens: the daemon writes it after creating
        // its exports, before accepting connections. Its socket appears at bind, before listen (a connect between the
        // two is refused). The daemon exiting ends the wait too.
        string pidFile = Path.Combine(dir, "qsd.pid");
        using var created = new ManualResetEventSlim();
        using var watcher = new FileSystemWatcher(dir, "qsd.pid") { NotifyFilter = NotifyFilters.FileName, EnableRaisingEvents = true };
        watcher.Created += (_, _) => created.Set();
        using var qsd = Process.Start(new ProcessStartInfo(QemuStorageDaemonFactAttribute.Path)
        {
            ArgumentList =
            {
                "--pidfile", pidFile,
                "--blockdev", "driver=file,node-name=f0,filename=" + Path.Combine(dir, "disk.img"),
                "--export", $"type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path={socket},writable=on",
            },
            RedirectStandardError = true,
        })!;
        qsd.EnableRaisingEvents = true;
        qsd.Exited += (_, _) => created.Set();
        try
        {
            if (qsd.HasExited)
            {
                created.Set();
            }

            Assert.True(created.Wait(TimeSpan.FromSeconds(30)) && File.Exists(pidFile), "qemu-storage-daemon did not listen: " + (qsd.HasExited ? qsd.StandardError.ReadToEnd() : ""));
            using VhostUserFrontEnd fe = VhostUserFrontEnd.Connect(socket);
            WriteAndReadBack(fe, 0x3c);
        }
        finally
        {
            if (!qsd.HasExited)
            {
                qsd.Kill();
            }

            qsd.WaitForExit(30_000);
            Directory.Delete(dir, recursive: true);
        }
    }
}
