using System.Buffers.Binary;
using System.Globalization;
using Virtio.CrashHost;
using Virtio.Device;
using Virtio.Devices.Block;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Transport;

// The child of the process-crash test: a virtio-blk device on a FileBlockBackend, driven through the Linux-model
// driver over guest RAM, issuing random writes, write-zeroes, discards and flushes until it is killed. It reports
// each request on stdout before submitting it ("S gen kind sector count") and each acknowledgement as it arrives
// ("A gen status"); a line is in the pipe once WriteLine returns, so it outlives a SIGKILL.
// Usage: Virtio.CrashHost IMAGE SECTORS SEED FIRST_GENERATION ASYNC(0|1)
if (args.Length != 5)
{
    Console.Error.WriteLine("usage: Virtio.CrashHost IMAGE SECTORS SEED FIRST_GENERATION ASYNC(0|1)");
    return 2;
}

string image = args[0];
int sectors = int.Parse(args[1], CultureInfo.InvariantCulture);
var rng = new Random(int.Parse(args[2], CultureInfo.InvariantCulture));
long generation = long.Parse(args[3], CultureInfo.InvariantCulture);
bool asynchronous = args[4] == "1";
const int Slots = 8;
const int MaxSectors = 16;

using var output = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true };
using var memory = GuestMemory.Create(16 << 20);
var backend = new FileBlockBackend(new FileBlockBackendOptions { Path = image, CreateSize = (ulong)sectors * 512, Asynchronous = asynchronous });
using var device = new BlockDevice(memory, backend);
var transport = new VirtioMmioTransport(device);
using var driver = new VirtioMmioGuestDriver<int>(transport, memory, 0x10_0000, (16 << 20) - 0x10_0000);
driver.Probe(VirtioFeature.RingEventIdx | VirtioBlkFeature.Flush | VirtioBlkFeature.Discard | VirtioBlkFeature.WriteZeroes | VirtioBlkFeature.SegMax, 1, 64);
bool discard = (driver.NegotiatedFeatures & VirtioBlkFeature.Discard) != 0;
bool writeZeroes = (driver.NegotiatedFeatures & VirtioBlkFeature.WriteZeroes) != 0;
output.WriteLine($"R discard={(discard ? 1 : 0)} write-zeroes={(writeZeroes ? 1 : 0)}");

// One set of guest buffers per request slot, allocated once.
var header = new GuestSegment[Slots];
var data = new GuestSegment[Slots];
var status = new GuestSegment[Slots];
var slotGeneration = new long[Slots];
var slotRange = new (int Sector, int Count)[Slots];
var busy = new bool[Slots];
for (int i = 0; i < Slots; i++)
{
    header[i] = new GuestSegment(driver.Allocate(16), 16);
    data[i] = new GuestSegment(driver.Allocate(MaxSectors * 512), MaxSectors * 512);
    status[i] = new GuestSegment(driver.Allocate(1), 1);
}

DriverQueue<int> queue = driver.Queues[0];
while (true)
{
    // Fill every free slot; requests in flight never overlap, so each sector's history is a sequence.
    for (int slot = 0; slot < Slots; slot++)
    {
        if (busy[slot])
        {
            continue;
        }

        int roll = rng.Next(100);
        char kind = roll < 70 ? 'W' : roll < 80 && writeZeroes ? 'Z' : roll < 90 && discard ? 'D' : 'F';
        int count = kind == 'F' ? 0 : rng.Next(1, MaxSectors + 1);
        int sector = kind == 'F' ? 0 : rng.Next(0, sectors - count + 1);
        if (kind != 'F' && Overlaps(sector, count))
        {
            continue;
        }

        long gen = generation++;
        Span<byte> h = memory.GetSpan(header[slot].Address, 16);
        VirtioBlkRequestType type = kind switch
        {
            'W' => VirtioBlkRequestType.Out,
            'Z' => VirtioBlkRequestType.WriteZeroes,
            'D' => VirtioBlkRequestType.Discard,
            _ => VirtioBlkRequestType.Flush,
        };
        BinaryPrimitives.WriteUInt32LittleEndian(h, (uint)type);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(h[8..], kind == 'W' ? (ulong)sector : 0);
        GuestSegment payload;
        if (kind == 'W')
        {
            Span<byte> d = memory.GetSpan(data[slot].Address, count * 512);
            for (int s = 0; s < count; s++)
            {
                SectorStamp.Write(d.Slice(s * 512, 512), (ulong)(sector + s), gen);
            }

            payload = new GuestSegment(data[slot].Address, (uint)(count * 512));
        }
        else
        {
            // virtio_blk_discard_write_zeroes: sector, num_sectors, flags (unmap for half the write-zeroes).
            Span<byte> d = memory.GetSpan(data[slot].Address, 16);
            BinaryPrimitives.WriteUInt64LittleEndian(d, (ulong)sector);
            BinaryPrimitives.WriteUInt32LittleEndian(d[8..], (uint)count);
            BinaryPrimitives.WriteUInt32LittleEndian(d[12..], kind == 'Z' && rng.Next(2) == 0 ? 1u : 0u);
            payload = new GuestSegment(data[slot].Address, 16);
        }

        output.WriteLine($"S {gen} {kind} {sector} {count}");
        busy[slot] = true;
        slotGeneration[slot] = gen;
        slotRange[slot] = (sector, count);
        AddResult added = kind == 'F'
            ? queue.Add([header[slot]], [status[slot]], slot)
            : queue.Add([header[slot], payload], [status[slot]], slot);
        if (added != AddResult.Added)
        {
            Console.Error.WriteLine($"add failed: {added}");
            return 1;
        }
    }

    queue.Kick();
    bool any = false;
    while (queue.TryGetBuffer(out int done, out _))
    {
        any = true;
        busy[done] = false;
        output.WriteLine($"A {slotGeneration[done]} {memory.GetSpan(status[done].Address, 1)[0]}");
    }

    if (!any && device.Interrupt.Wait(30_000))
    {
        device.Interrupt.TestAndClear();
    }
}

bool Overlaps(int sector, int count)
{
    for (int i = 0; i < Slots; i++)
    {
        if (busy[i] && sector < slotRange[i].Sector + slotRange[i].Count && slotRange[i].Sector < sector + count)
        {
            return true;
        }
    }

    return false;
}
