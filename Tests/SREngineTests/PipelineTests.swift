import Testing
import SRCore
@testable import SREngine

@Suite("Host pipelines")
struct PipelineTests {
    @Test("reflect padding mirrors without repeating the edge, also for tiny images")
    func reflect() {
        #expect((-3...5).map { Pipelines.reflect($0, 3) } == [1, 2, 1, 0, 1, 2, 1, 0, 1])
        #expect((-2...2).map { Pipelines.reflect($0, 1) } == [0, 0, 0, 0, 0])
        let t = Tensor(dims: [1, 1, 1, 4], data: [1, 2, 3, 4])
        let p = Pipelines.pad(t, .init(top: 0, left: 2, bottom: 1, right: 3, originY: 0, originX: 0))
        #expect(p.dims == [1, 1, 2, 9])
        #expect(Array(p.data[0..<9]) == [3, 2, 1, 2, 3, 4, 3, 2, 1])
    }

    @Test("Real-CUGAN padding for a 49x38 image matches realcugan-ncnn-vulkan (x2, x3, x4)")
    func cuganPlan() {
        func sides(_ s: Int) -> [Int] {
            let p = Pipelines.plan(.realcugan, scale: s, height: 38, width: 49)
            return [p.top, p.bottom, p.left, p.right]
        }
        #expect(sides(2) == [18, 18, 18, 19])
        #expect(sides(3) == [14, 16, 14, 17])
        #expect(sides(4) == [19, 19, 19, 20])
        let e = Pipelines.plan(.realesrgan, scale: 4, height: 38, width: 49)
        #expect([e.top, e.bottom, e.left, e.right, e.originY, e.originX] == [10, 10, 10, 10, 40, 40])
    }
}
