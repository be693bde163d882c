"""Values that cross layers and the process boundary; they import nothing of hubserve but its errors.

The gateway, the scheduler, the runners and (later) the SDK all speak in these: model ids and manifests,
sampling parameters and token events, and what an encoder call knows of its caller.
"""
