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
