import Foundation
import Metrics
public import Prometheus

/// The server's Prometheus metrics, made through swift-metrics with an injected factory (so every server, and
/// every test, has its own registry instead of a process-wide bootstrap).
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let depth: Metrics.Gauge
    private let runningGauge: Metrics.Gauge
    private let inflight: Metrics.Meter
    private let wait: Metrics.Timer

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        let seconds: [Duration] = [.milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250),
                                   .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
                                   .seconds(30), .seconds(60), .seconds(120), .seconds(300)]
        factory.defaultDurationHistogramBuckets = seconds
        self.factory = factory
        depth = Metrics.Gauge(label: "enhance_queue_depth", factory: factory)
        runningGauge = Metrics.Gauge(label: "enhance_jobs_running", factory: factory)
        inflight = Metrics.Meter(label: "enhance_http_requests_in_flight", factory: factory)
        wait = Metrics.Timer(label: "enhance_queue_wait_seconds", factory: factory)
        depth.record(0)
        runningGauge.record(0)
        inflight.set(0)
    }

    func queueDepth(_ n: Int) { depth.record(n) }
    func runningJobs(_ n: Int) { runningGauge.record(n) }
    func queueWait(_ d: Duration) { wait.recordNanoseconds(d.nanoseconds) }
    func requestStarted() { inflight.increment() }
    func requestFinished() { inflight.decrement() }

    func request(route: String, method: String, status: Int, duration: Duration, bytesIn: Int, bytesOut: Int) {
        let dims = [("route", route), ("method", method), ("status", String(status))]
        Metrics.Counter(label: "enhance_http_requests_total", dimensions: dims, factory: factory).increment()
        Metrics.Timer(label: "enhance_http_request_duration_seconds", dimensions: [("route", route)], factory: factory)
            .recordNanoseconds(duration.nanoseconds)
        if bytesIn > 0 {
            Metrics.Counter(label: "enhance_http_request_bytes_total", dimensions: [("route", route)], factory: factory)
                .increment(by: bytesIn)
        }
        if bytesOut > 0 {
            Metrics.Counter(label: "enhance_http_response_bytes_total", dimensions: [("route", route)], factory: factory)
                .increment(by: bytesOut)
        }
    }

    func error(status: Int, code: String) {
        Metrics.Counter(label: "enhance_http_errors_total", dimensions: [("status", String(status)), ("error", code)],
                factory: factory).increment()
    }

    func inference(model: String, duration: Duration, outputPixels: Int) {
        Metrics.Timer(label: "enhance_inference_duration_seconds", dimensions: [("model", model)], factory: factory)
            .recordNanoseconds(duration.nanoseconds)
        Metrics.Counter(label: "enhance_output_pixels_total", dimensions: [("model", model)], factory: factory)
            .increment(by: outputPixels)
    }

    /// The Prometheus text exposition of everything recorded.
    public func exposition() -> String { registry.emitToString() }
}

extension Duration {
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
