using Virtio.Diagnostics;

namespace Virtio.Scenarios.Catalog;

/// <summary>The control: no fault, every batch completes and the watchdog stays quiet.</summary>
public sealed class HealthyScenario : ReproScenario
{
    /// <inheritdoc />
    public override string Name => "healthy";

    /// <inheritdoc />
    public override string Fault => "none";

    /// <inheritdoc />
    public override HangVerdict Expected => HangVerdict.Healthy;

    /// <inheritdoc />
    public override string Why => "no fault: every batch completes and the watchdog stays quiet";
}
