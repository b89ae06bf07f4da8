namespace Virtio.Diagnostics.Qmp;

/// <summary>The QEMU version from the QMP greeting (<c>{"QMP": {"version": {"qemu": {...}, "package": ...}}}</c>).</summary>
/// <param name="Major">Major version.</param>
/// <param name="Minor">Minor version.</param>
/// <param name="Micro">Micro version.</param>
/// <param name="Package">The distribution's package string (Debian's, say), possibly empty.</param>
public sealed record QemuVersion(int Major, int Minor, int Micro, string Package)
{
    /// <inheritdoc />
    public override string ToString() =>
        string.IsNullOrEmpty(Package) ? $"{Major}.{Minor}.{Micro}" : $"{Major}.{Minor}.{Micro} ({Package})";
}
