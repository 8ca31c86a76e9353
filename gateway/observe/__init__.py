"""Operating the gateway: logs, Prometheus metrics and OpenTelemetry traces. A leaf package:
it imports no other part of the gateway, so every layer may report through it."""
