// fleet-bench-sgemm: GFLOP/s of Fleet's Sgemm next to OpenBLAS's cblas_sgemm, same process and
// inputs, for square and model-shaped products.
//
//   fleet-bench-sgemm --threads 2 --sizes 512,1024 --reps 20
//
// Prints one markdown row per (size, threads): median GFLOP/s over `reps` timed calls of each.
// --shape MxNxK[,MxNxK...] replaces the square sizes; --prepack also times Sgemm with A, then B,
// packed once beforehand (the weights cases: Conv's A, Gemm's and MatMul's B).
#include <cblas.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "executor/thread_pool.h"
#include "kernels/cpu/register.h"
#include "kernels/cpu/sgemm.h"
#include "tools/version.h"

namespace {

template <typename Fn>
double MedianSeconds(int reps, Fn fn) {
  fn();  // warm-up
  std::vector<double> s;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(s.begin(), s.end());
  return s[s.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Fleet Sgemm vs OpenBLAS sgemm");
  std::vector<int> threads = {1, 2};
  std::vector<int64_t> sizes = {512, 1024};
  std::vector<std::string> shapes;
  int reps = 20;
  bool prepack = false;
  app.add_option("--threads", threads, "thread counts")->delimiter(',');
  app.add_option("--sizes", sizes, "square sizes M=N=K")->delimiter(',');
  app.add_option("--shape", shapes, "MxNxK shapes instead of --sizes")->delimiter(',');
  app.add_option("--reps", reps, "timed calls per measurement");
  app.add_flag("--prepack", prepack, "also time Sgemm with B prepacked");
  app.set_version_flag("--version", [] { return fleet::VersionText("fleet-bench-sgemm"); });
  CLI11_PARSE(app, argc, argv);
  if (!fleet::CheckCpuIsaEnvironmentOrReport("fleet-bench-sgemm")) return 2;

  std::vector<std::array<int64_t, 3>> dims;
  for (int64_t s : sizes) dims.push_back({s, s, s});
  if (!shapes.empty()) {
    dims.clear();
    for (const std::string& sh : shapes) {
      long long m, n, k;
      if (std::sscanf(sh.c_str(), "%lldx%lldx%lld", &m, &n, &k) != 3) {
        std::fprintf(stderr, "bad --shape '%s'; expected MxNxK\n", sh.c_str());
        return 2;
      }
      dims.push_back({m, n, k});
    }
  }
  std::printf("kernel: %s\n\n| M x N x K | threads | Fleet GFLOP/s |%s OpenBLAS GFLOP/s |\n",
              fleet::cpu::SgemmKernelName(),
              prepack ? " Fleet A prepacked | Fleet B prepacked |" : "");
  std::printf("|---|---|---|%s---|\n", prepack ? "---|---|" : "");
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (const auto& d : dims) {
    const int64_t m = d[0], n = d[1], k = d[2];
    std::vector<float> a(m * k), b(k * n), c(m * n);
    for (float& x : a) x = dist(rng);
    for (float& x : b) x = dist(rng);
    const double flops = 2.0 * m * n * k;
    for (int t : threads) {
      fleet::ThreadPool pool(t);
      fleet::SetCpuMathThreads(t);
      const int r = std::max<int>(3, static_cast<int>(reps * std::min(1.0, 2e9 / flops * 4)));
      const double fleet_s = MedianSeconds(r, [&] {
        fleet::cpu::Sgemm(m, n, k, 1.0f, {a.data(), k, false, nullptr},
                          {b.data(), n, false, nullptr}, 0.0f, c.data(), n, &pool);
      });
      double packed_a_s = 0, packed_s = 0;
      if (prepack) {
        fleet::cpu::PackedSgemmMatrix pa = fleet::cpu::PackSgemmA(false, m, k, a.data(), k);
        packed_a_s = MedianSeconds(r, [&] {
          fleet::cpu::Sgemm(m, n, k, 1.0f, {nullptr, 0, false, &pa}, {b.data(), n, false, nullptr},
                            0.0f, c.data(), n, &pool);
        });
        fleet::cpu::PackedSgemmMatrix pb = fleet::cpu::PackSgemmB(false, k, n, b.data(), n);
        packed_s = MedianSeconds(r, [&] {
          fleet::cpu::Sgemm(m, n, k, 1.0f, {a.data(), k, false, nullptr}, {nullptr, 0, false, &pb},
                            0.0f, c.data(), n, &pool);
        });
      }
      const double blas_s = MedianSeconds(r, [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a.data(), k, b.data(),
                    n, 0.0f, c.data(), n);
      });
      std::printf("| %lld x %lld x %lld | %d | %.1f |", static_cast<long long>(m),
                  static_cast<long long>(n), static_cast<long long>(k), t, flops / fleet_s * 1e-9);
      if (prepack) {
        std::printf(" %.1f | %.1f |", flops / packed_a_s * 1e-9, flops / packed_s * 1e-9);
      }
      std::printf(" %.1f |\n", flops / blas_s * 1e-9);
    }
  }
  return 0;
}
