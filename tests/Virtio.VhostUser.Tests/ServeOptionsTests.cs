using Virtio.Diagnostics.Faults;
using Virtio.VhostUser.Net;

namespace Virtio.VhostUser.Tests;

/// <summary>
/// The settings of <see cref="VhostUserBlkServer"/> and <see cref="VhostUserNetServer"/> (what <c>virtio serve</c>
/// passes them): each refusal names the option and the rule, and a refused setting never opens a socket.
/// </summary>
public sealed class ServeOptionsTests
{
    private const string Socket = "/tmp/serve-options-test.sock";

    public static TheoryData<BlkServeOptions, string> RefusedBlk => new()
    {
        { new BlkServeOptions { Socket = Socket }, "give --image FILE or --memory SIZE" },
        { new BlkServeOptions { Socket = Socket, MemoryBytes = 1 << 20, ImagePath = "/tmp/x.img" }, "give --image or --memory, not both" },
        { new BlkServeOptions { Socket = Socket, MemoryBytes = 1000 }, "--memory 1000: not a size in whole 512-byte sectors" },
        { new BlkServeOptions { Socket = Socket, MemoryBytes = 1 << 20, NumQueues = 0 }, "--num-queues 0: must be from 1 to 64" },
        { new BlkServeOptions { Socket = Socket, MemoryBytes = 1 << 20, QueueSize = 100 }, "--queue-size 100: must be a power of two from 1 to 32768" },
        { new BlkServeOptions { Socket = "/tmp/" + new string('s', 120), MemoryBytes = 1 << 20 }, "a Unix socket path holds at most 107" },
    };

    [Theory]
    [MemberData(nameof(RefusedBlk))]
    public void Blk_settings_are_refused_with_the_option_and_the_rule(BlkServeOptions options, string expected)
    {
        Assert.Contains(expected, options.Validate(), StringComparison.Ordinal);
        ArgumentException e = Assert.Throws<ArgumentException>(() => VhostUserBlkServer.Serve(options));
        Assert.Equal(options.Validate(), e.Message);
        Assert.False(File.Exists(options.Socket));
    }

    [Fact]
    public void Net_refuses_a_backend_stall_which_only_blk_has()
    {
        Assert.True(DeviceFaultSpec.TryParse("stall-backend:2", out DeviceFaultSpec? stall));
        var options = new NetServeOptions { Socket = Socket, Fault = stall };
        Assert.Contains("--fault stall-backend:2: must be drop-kick:N or drop-call:N", options.Validate(), StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => VhostUserNetServer.Serve(options));
    }

    [Fact]
    public void Defaults_are_valid_and_serve_loopback_on_one_queue_pair()
    {
        Assert.Null(new BlkServeOptions { Socket = Socket, MemoryBytes = 1 << 20 }.Validate());
        var net = new NetServeOptions { Socket = Socket };
        Assert.Null(net.Validate());
        Assert.Equal((NetBackendKind.Loopback, 1, 1024), (net.Backend.Kind, net.QueuePairs, net.QueueSize));
    }

    [Theory]
    [InlineData("512", 512UL)]
    [InlineData("64K", 64UL << 10)]
    [InlineData("64m", 64UL << 20)]
    [InlineData("1G", 1UL << 30)]
    [InlineData("2T", 2UL << 40)]
    public void Disk_sizes_take_binary_suffixes(string text, ulong expected)
    {
        Assert.True(BlkServeOptions.TryParseSize(text, out ulong bytes));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("1000")]
    [InlineData("lots")]
    [InlineData("-1M")]
    [InlineData("99999999999999999999T")]
    [InlineData("17179869184T")]
    public void Disk_sizes_that_are_not_whole_sectors_or_not_numbers_are_refused(string text) =>
        Assert.False(BlkServeOptions.TryParseSize(text, out _));

    [Fact]
    public void Blk_serves_a_front_end_then_flushes_and_reports_each_step()
    {
        string dir = Directory.CreateTempSubdirectory("vu-serve").FullName;
        try
        {
            string socket = Path.Combine(dir, "blk.sock");
            var lines = new List<string>();
            using var listening = new ManualResetEventSlim();
            var options = new BlkServeOptions
            {
                Socket = socket,
                MemoryBytes = 1 << 20,
                Once = true,
                Status = line =>
                {
                    lock (lines)
                    {
                        lines.Add(line);
                    }

                    if (line.Contains("listening on", StringComparison.Ordinal))
                    {
                        listening.Set();
                    }
                },
            };
            var server = new Thread(() => VhostUserBlkServer.Serve(options));
            server.Start();
            Assert.True(listening.Wait(TimeSpan.FromSeconds(30)), "never listened");
            using (VhostUserFrontEnd front = VhostUserFrontEnd.Connect(socket))
            {
                Assert.NotEqual(0UL, front.GetFeatures());
            }

            Assert.True(server.Join(TimeSpan.FromSeconds(30)), "--once did not end after its connection closed");
            Assert.Equal(3, lines.Count);
            Assert.Equal($"memory (1048576 bytes), listening on {socket}", lines[0]);
            Assert.StartsWith("stopped (", lines[1], StringComparison.Ordinal);
            Assert.Equal("memory (1048576 bytes) flushed", lines[2]);
            Assert.False(File.Exists(socket));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
