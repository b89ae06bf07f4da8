using Virtio.Cli;

namespace Virtio.Cli.Tests;

/// <summary>Runs the <c>virtio</c> command in this process, as <c>Main</c> does, with its output captured.</summary>
internal static class VirtioCommand
{
    public static (int Exit, string Out, string Err) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = Program.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }
}

/// <summary>A fresh directory under /tmp, removed afterwards (short, so socket paths fit in sun_path).</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine("/tmp", "vcli-" + Guid.NewGuid().ToString("N")[..12]);

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}
