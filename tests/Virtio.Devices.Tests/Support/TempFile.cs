namespace Virtio.Devices.Tests.Support;

/// <summary>A unique path under the temp directory, deleted on dispose.</summary>
internal sealed class TempFile : IDisposable
{
    public TempFile(int length = -1)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"virtio-blk-{Guid.NewGuid():N}.img");
        if (length >= 0)
        {
            using var stream = File.Create(Path);
            stream.SetLength(length);
        }
    }

    public string Path { get; }

    public void Dispose() => File.Delete(Path);
}
