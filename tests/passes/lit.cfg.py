# lit configuration for the golden pass tests (tests/passes/*.txt). CTest runs lit on one file
# at a time and passes the paths with --param (see CMakeLists.txt beside this file):
#   tools_dir       where fleet-opt and fleet-transpile are
#   llvm_bin        where FileCheck and not are
#   fuse_plugin     the example plugin, substituted for %fuse_plugin
#   failing_plugin  a plugin whose registration fails, for %failing_plugin
#   exec_root       a build directory for the tests' temporary files (%t)
import os

import lit.formats

config.name = "fleet-passes"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".txt"]
config.excludes = ["CMakeLists.txt"]
config.test_source_root = os.path.dirname(__file__)

params = lit_config.params
for key in ("tools_dir", "llvm_bin", "fuse_plugin", "failing_plugin", "exec_root"):
    if key not in params:
        lit_config.fatal("missing --param %s=... (run the golden tests through ctest)" % key)
config.test_exec_root = params["exec_root"]
config.environment["PATH"] = os.pathsep.join(
    [params["tools_dir"], params["llvm_bin"], os.environ.get("PATH", "")])
config.substitutions.append(("%fuse_plugin", params["fuse_plugin"]))
config.substitutions.append(("%failing_plugin", params["failing_plugin"]))
