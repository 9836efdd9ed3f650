// A shared library without fleet_register_passes: loading it as a pass plugin must fail.
extern "C" int not_a_fleet_plugin(void) { return 42; }
