using Virtio.VhostUser;

namespace Virtio.Cli.Tests;

/// <summary><c>virtio serve blk</c> makes its image durable when serving ends.</summary>
public sealed class ServeShutdownTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Serve_blk_flushes_the_image_when_serving_ends()
    {
        string image = _dir.File("disk.img"), socket = _dir.File("blk.sock");
        File.WriteAllBytes(image, new byte[1 << 20]);
        (int Exit, string Out, string Err) result = default;
        var serve = new Thread(() => result = VirtioCommand.Run("serve", "blk", "--socket", socket, "--image", image, "--once"));
        serve.Start();

        // The command writes its "listening" line to a captured writer: the socket appearing is the signal we can see.
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (UnixSocketPath.Kind(socket) != PathKind.Socket)
        {
            Assert.True(waited.Elapsed < Deadline, "serve blk never listened");
            Thread.Yield();
        }

        using (VhostUserFrontEnd front = VhostUserFrontEnd.Connect(socket))
        {
            Assert.NotEqual(0UL, front.GetFeatures());
        }

        Assert.True(serve.Join(Deadline), "serve blk --once did not end after its connection closed");
        Assert.Equal(0, result.Exit);
        Assert.Contains($"virtio serve blk: {image} flushed", result.Out, StringComparison.Ordinal);
    }
}
