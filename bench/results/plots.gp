set terminal pngcairo size 900,600 font ",10"
set grid
set key bottom right
set output "bench/results/cdf_cb_lat_warm_native.png"
set title "completion -> callback latency, workers warm (native; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_cb_lat_warm_native_condvar-pool.dat" using 1:2 with lines lw 2 title "condvar-pool", "bench/results/cdf_cb_lat_warm_native_spin-handoff.dat" using 1:2 with lines lw 2 title "spin-handoff", "bench/results/cdf_cb_lat_warm_native_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user", "bench/results/cdf_cb_lat_warm_native_uring-nop-b1.dat" using 1:2 with lines lw 2 title "uring-nop-b1"
set output "bench/results/cdf_cb_lat_cold_native.png"
set title "completion -> callback latency, workers asleep (native; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_cb_lat_cold_native_condvar-pool.dat" using 1:2 with lines lw 2 title "condvar-pool", "bench/results/cdf_cb_lat_cold_native_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user", "bench/results/cdf_cb_lat_cold_native_uring-nop-b1.dat" using 1:2 with lines lw 2 title "uring-nop-b1"
set output "bench/results/cdf_drain_native.png"
set title "drain -> waiter return (native; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_drain_native_futex-wake.dat" using 1:2 with lines lw 2 title "futex-wake", "bench/results/cdf_drain_native_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user"
set output "bench/results/cdf_echo_pipe_c1_cpu0_lat_native.png"
set title "echo round trip, pipe, 1 connection(s), pinned to CPU 0 (native; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_echo_pipe_c1_cpu0_lat_native_liburing.dat" using 1:2 with lines lw 2 title "liburing", "bench/results/cdf_echo_pipe_c1_cpu0_lat_native_libuv.dat" using 1:2 with lines lw 2 title "libuv", "bench/results/cdf_echo_pipe_c1_cpu0_lat_native_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user"
set output "bench/results/cdf_echo_pipe_c1_lat_native.png"
set title "echo round trip, pipe, 1 connection(s) (native; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_echo_pipe_c1_lat_native_liburing.dat" using 1:2 with lines lw 2 title "liburing", "bench/results/cdf_echo_pipe_c1_lat_native_libuv.dat" using 1:2 with lines lw 2 title "libuv", "bench/results/cdf_echo_pipe_c1_lat_native_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user"
set output "bench/results/cdf_echo_pipe_c8_cpu0_lat_native.png"
set title "echo round trip, pipe, 8 connection(s), pinned to CPU 0 (native; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_echo_pipe_c8_cpu0_lat_native_liburing.dat" using 1:2 with lines lw 2 title "liburing", "bench/results/cdf_echo_pipe_c8_cpu0_lat_native_libuv.dat" using 1:2 with lines lw 2 title "libuv", "bench/results/cdf_echo_pipe_c8_cpu0_lat_native_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user"
set output "bench/results/cdf_echo_pipe_c8_lat_native.png"
set title "echo round trip, pipe, 8 connection(s) (native; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_echo_pipe_c8_lat_native_liburing.dat" using 1:2 with lines lw 2 title "liburing", "bench/results/cdf_echo_pipe_c8_lat_native_libuv.dat" using 1:2 with lines lw 2 title "libuv", "bench/results/cdf_echo_pipe_c8_lat_native_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user"
set output "bench/results/cdf_echo_tcp_c1_cpu0_lat_native.png"
set title "echo round trip, tcp, 1 connection(s), pinned to CPU 0 (native; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_echo_tcp_c1_cpu0_lat_native_liburing.dat" using 1:2 with lines lw 2 title "liburing", "bench/results/cdf_echo_tcp_c1_cpu0_lat_native_libuv.dat" using 1:2 with lines lw 2 title "libuv", "bench/results/cdf_echo_tcp_c1_cpu0_lat_native_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user", "bench/results/cdf_echo_tcp_c1_cpu0_lat_native_wine-tpio.dat" using 1:2 with lines lw 2 title "wine-tpio"
set output "bench/results/cdf_echo_tcp_c1_lat_native.png"
set title "echo round trip, tcp, 1 connection(s) (native; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_echo_tcp_c1_lat_native_liburing.dat" using 1:2 with lines lw 2 title "liburing", "bench/results/cdf_echo_tcp_c1_lat_native_libuv.dat" using 1:2 with lines lw 2 title "libuv", "bench/results/cdf_echo_tcp_c1_lat_native_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user", "bench/results/cdf_echo_tcp_c1_lat_native_wine-tpio.dat" using 1:2 with lines lw 2 title "wine-tpio"
set output "bench/results/cdf_echo_tcp_c8_cpu0_lat_native.png"
set title "echo round trip, tcp, 8 connection(s), pinned to CPU 0 (native; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_echo_tcp_c8_cpu0_lat_native_liburing.dat" using 1:2 with lines lw 2 title "liburing", "bench/results/cdf_echo_tcp_c8_cpu0_lat_native_libuv.dat" using 1:2 with lines lw 2 title "libuv", "bench/results/cdf_echo_tcp_c8_cpu0_lat_native_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user", "bench/results/cdf_echo_tcp_c8_cpu0_lat_native_wine-tpio.dat" using 1:2 with lines lw 2 title "wine-tpio"
set output "bench/results/cdf_echo_tcp_c8_lat_native.png"
set title "echo round trip, tcp, 8 connection(s) (native; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_echo_tcp_c8_lat_native_liburing.dat" using 1:2 with lines lw 2 title "liburing", "bench/results/cdf_echo_tcp_c8_lat_native_libuv.dat" using 1:2 with lines lw 2 title "libuv", "bench/results/cdf_echo_tcp_c8_lat_native_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user", "bench/results/cdf_echo_tcp_c8_lat_native_wine-tpio.dat" using 1:2 with lines lw 2 title "wine-tpio"
set output "bench/results/cdf_cb_lat_warm_vm.png"
set title "completion -> callback latency, workers warm (vm; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_cb_lat_warm_vm_condvar-pool.dat" using 1:2 with lines lw 2 title "condvar-pool", "bench/results/cdf_cb_lat_warm_vm_spin-handoff.dat" using 1:2 with lines lw 2 title "spin-handoff", "bench/results/cdf_cb_lat_warm_vm_tpio-kmod.dat" using 1:2 with lines lw 2 title "tpio-kmod", "bench/results/cdf_cb_lat_warm_vm_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user", "bench/results/cdf_cb_lat_warm_vm_uring-nop-b1.dat" using 1:2 with lines lw 2 title "uring-nop-b1"
set output "bench/results/cdf_cb_lat_cold_vm.png"
set title "completion -> callback latency, workers asleep (vm; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_cb_lat_cold_vm_condvar-pool.dat" using 1:2 with lines lw 2 title "condvar-pool", "bench/results/cdf_cb_lat_cold_vm_tpio-kmod.dat" using 1:2 with lines lw 2 title "tpio-kmod", "bench/results/cdf_cb_lat_cold_vm_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user", "bench/results/cdf_cb_lat_cold_vm_uring-nop-b1.dat" using 1:2 with lines lw 2 title "uring-nop-b1"
set output "bench/results/cdf_drain_vm.png"
set title "drain -> waiter return (vm; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_drain_vm_futex-wake.dat" using 1:2 with lines lw 2 title "futex-wake", "bench/results/cdf_drain_vm_tpio-kmod.dat" using 1:2 with lines lw 2 title "tpio-kmod", "bench/results/cdf_drain_vm_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user"
set output "bench/results/cdf_echo_pipe_c1_lat_vm.png"
set title "echo round trip, pipe, 1 connection(s) (vm; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_echo_pipe_c1_lat_vm_liburing.dat" using 1:2 with lines lw 2 title "liburing", "bench/results/cdf_echo_pipe_c1_lat_vm_libuv.dat" using 1:2 with lines lw 2 title "libuv", "bench/results/cdf_echo_pipe_c1_lat_vm_tpio-kmod.dat" using 1:2 with lines lw 2 title "tpio-kmod", "bench/results/cdf_echo_pipe_c1_lat_vm_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user"
set output "bench/results/cdf_echo_pipe_c8_lat_vm.png"
set title "echo round trip, pipe, 8 connection(s) (vm; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_echo_pipe_c8_lat_vm_liburing.dat" using 1:2 with lines lw 2 title "liburing", "bench/results/cdf_echo_pipe_c8_lat_vm_libuv.dat" using 1:2 with lines lw 2 title "libuv", "bench/results/cdf_echo_pipe_c8_lat_vm_tpio-kmod.dat" using 1:2 with lines lw 2 title "tpio-kmod", "bench/results/cdf_echo_pipe_c8_lat_vm_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user"
set output "bench/results/cdf_echo_tcp_c1_lat_vm.png"
set title "echo round trip, tcp, 1 connection(s) (vm; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_echo_tcp_c1_lat_vm_liburing.dat" using 1:2 with lines lw 2 title "liburing", "bench/results/cdf_echo_tcp_c1_lat_vm_libuv.dat" using 1:2 with lines lw 2 title "libuv", "bench/results/cdf_echo_tcp_c1_lat_vm_tpio-kmod.dat" using 1:2 with lines lw 2 title "tpio-kmod", "bench/results/cdf_echo_tcp_c1_lat_vm_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user"
set output "bench/results/cdf_echo_tcp_c8_lat_vm.png"
set title "echo round trip, tcp, 8 connection(s) (vm; median run)"
set logscale x
set xlabel "latency (ns, log)"
set ylabel "fraction of samples"
set yrange [0:1]
set format x "10^{%L}"
plot "bench/results/cdf_echo_tcp_c8_lat_vm_liburing.dat" using 1:2 with lines lw 2 title "liburing", "bench/results/cdf_echo_tcp_c8_lat_vm_libuv.dat" using 1:2 with lines lw 2 title "libuv", "bench/results/cdf_echo_tcp_c8_lat_vm_tpio-kmod.dat" using 1:2 with lines lw 2 title "tpio-kmod", "bench/results/cdf_echo_tcp_c8_lat_vm_tpio-user.dat" using 1:2 with lines lw 2 title "tpio-user"
set terminal pngcairo size 1200,550 font ",10"
set output "bench/results/objects.png"
set multiplot layout 1,2 title "cost per operation vs live objects (median of runs)"
set logscale x
set logscale y
set format x "10^{%L}"
set format y "%g"
set xlabel "live objects (log)"
set ylabel "ns per operation (log)"
set yrange [*:*]
set title "StartThreadpoolIo + CancelThreadpoolIo pair"
set key top left
plot "bench/results/objects.dat" index 0 using 1:2 with linespoints lw 2 title "native: Start+Cancel tpio-user", "bench/results/objects.dat" index 1 using 1:2 with linespoints lw 2 title "native: Start+Cancel atomic-pair", "bench/results/objects.dat" index 3 using 1:2 with linespoints lw 2 title "vm: Start+Cancel tpio-user", "bench/results/objects.dat" index 4 using 1:2 with linespoints lw 2 title "vm: Start+Cancel tpio-kmod", "bench/results/objects.dat" index 5 using 1:2 with linespoints lw 2 title "vm: Start+Cancel atomic-pair"
set title "post -> callback (stream)"
set key top left
plot "bench/results/objects.dat" index 2 using 1:2 with linespoints lw 2 title "native: post->callback tpio-user", "bench/results/objects.dat" index 6 using 1:2 with linespoints lw 2 title "vm: post->callback tpio-user", "bench/results/objects.dat" index 7 using 1:2 with linespoints lw 2 title "vm: post->callback tpio-kmod"
unset multiplot
