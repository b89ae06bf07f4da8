namespace Virtio.Diagnostics.Faults;

/// <summary>The faults <see cref="DeviceFaultSpec"/> injects into a served device.</summary>
public enum DeviceFaultKind
{
    /// <summary>The N-th kick is lost.</summary>
    DropKick,

    /// <summary>The N-th used-buffer notification is lost.</summary>
    DropCall,

    /// <summary>The N-th request never completes.</summary>
    StallBackend,
}
