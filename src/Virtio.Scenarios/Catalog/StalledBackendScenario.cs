using Virtio.Diagnostics;
using Virtio.Scenarios.Adapters;

namespace Virtio.Scenarios.Catalog;

/// <summary>The device pops the batch and its backend keeps it (<see cref="ScenarioDevice.Stall"/>).</summary>
public sealed class StalledBackendScenario : ReproScenario
{
    /// <inheritdoc />
    public override string Name => "stalled-backend";

    /// <inheritdoc />
    public override string Fault => "backend holds requests";

    /// <inheritdoc />
    public override HangVerdict Expected => HangVerdict.DeviceStuck;

    /// <inheritdoc />
    public override string Why => "the device pops the batch and hands it to its backend, which never completes it";

    /// <inheritdoc />
    protected internal override void OnArmed(ReproRunner run)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (run.Inject)
        {
            run.Adapter.Stall();
        }
    }
}
