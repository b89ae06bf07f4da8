using System.Globalization;
using System.Text;
using Virtio.Diagnostics.Qmp;

namespace Virtio.Diagnostics.Live;

/// <summary>The diagnosis of a running QEMU's virtio devices, as <see cref="QemuDiagnostics"/> takes it.</summary>
/// <param name="Version">QEMU's version.</param>
/// <param name="Devices">Each device diagnosed.</param>
public sealed record QemuDiagnosis(QemuVersion Version, IReadOnlyList<DeviceDiagnosis> Devices)
{
    /// <summary>Every queue diagnosed, device by device.</summary>
    public IEnumerable<QueueDiagnosis> Queues => Devices.SelectMany(d => d.Queues);

    /// <summary>Whether some queue's verdict is a hang.</summary>
    public bool HasHang => Queues.Any(q => q.IsHang);

    /// <summary>Whether some device could not be diagnosed (<see cref="DeviceDiagnosis.Refusal"/>).</summary>
    public bool HasRefusal => Devices.Any(d => d.Refusal is not null);

    /// <summary>
    /// Writes the replies as QEMU sent them into <paramref name="directory"/> (created if missing), for an offline
    /// <c>virtio analyze</c> of a <c>pmemsave</c> of the rings: each device's <c>x-query-virtio-status</c> as
    /// <c>NAME-virtio-status.json</c> and each queue's second <c>x-query-virtio-queue-status</c> as
    /// <c>NAME-queue-N-status.json</c>, NAME being the QOM path's segment before <c>virtio-backend</c>
    /// (<c>vblk0</c>), or the whole path joined by underscores.
    /// </summary>
    /// <exception cref="IOException">A file cannot be written.</exception>
    /// <exception cref="UnauthorizedAccessException">The directory is not writable.</exception>
    public void SaveReplies(DirectoryInfo directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        directory.Create();
        foreach (DeviceDiagnosis d in Devices)
        {
            string[] segments = d.Path.Split('/', StringSplitOptions.RemoveEmptyEntries);
            string name = segments.Length >= 2 && segments[^1] == "virtio-backend" ? segments[^2] : string.Join('_', segments);
            File.WriteAllText(Path.Combine(directory.FullName, $"{name}-virtio-status.json"), d.Status.Json + "\n");
            foreach (QueueDiagnosis q in d.Queues.Where(q => q.Second.StatusJson is not null))
            {
                File.WriteAllText(Path.Combine(directory.FullName, string.Create(CultureInfo.InvariantCulture, $"{name}-queue-{q.QueueIndex}-status.json")), q.Second.StatusJson + "\n");
            }
        }
    }

    /// <summary>One summary line per queue first (a 16-queue device reads at a glance), then each device's walk-through.</summary>
    public string ToText()
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        var s = new StringBuilder(8192);
        s.Append(c, $"QEMU {Version}: {Devices.Count} virtio device(s)\n\n");
        foreach (DeviceDiagnosis d in Devices)
        {
            if (d.Refusal is not null)
            {
                s.Append(c, $"{d.Path} ({d.Name}): not diagnosed: {d.Refusal}\n");
            }

            foreach (QueueDiagnosis q in d.Queues)
            {
                s.Append(q.Summary).Append('\n');
            }
        }

        foreach (DeviceDiagnosis d in Devices)
        {
            QemuVirtioStatus st = d.Status;
            s.Append(c, $"\n== {d.Path}: {d.Name}, status {string.Join('|', st.StatusNames.Select(n => n.Replace("VIRTIO_CONFIG_S_", "", StringComparison.Ordinal)))}, EVENT_IDX {(st.EventIdx ? "negotiated" : "not negotiated")}, {st.NumVqs} queue(s), {(st.Broken ? "broken" : "not broken")}, vhost {(st.VhostStarted ? "started" : "not started")}\n");
            if (d.Refusal is not null)
            {
                s.Append(c, $"{d.Refusal}\n");
            }

            foreach (QueueDiagnosis q in d.Queues)
            {
                s.Append('\n').Append(q.ToText());
            }
        }

        return s.ToString();
    }
}
