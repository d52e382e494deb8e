"""`wflow test --format junit` read by a real consumer (junitparser): the suites, cases and
failures it reports match what ran. Usage: check_junit.py WFLOW_BINARY (from the repository root).
"""

import subprocess
import sys
import tempfile

from junitparser import Failure, JUnitXml


def junit(binary, path):
    out = subprocess.run(
        [binary, "test", path, "--format", "junit"], capture_output=True, text=True, check=False
    )
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
        f.write(out.stdout)
    return out.returncode, JUnitXml.fromfile(f.name)


def cases(xml):
    return [case for suite in xml for case in suite]


def main():
    binary = sys.argv[1]

    code, xml = junit(binary, "tests/corpus/testing/release.test.wflow")
    assert code == 0, code
    passing = cases(xml)
    assert len(passing) == 5, [c.name for c in passing]
    assert all(c.is_passed for c in passing), [c.name for c in passing if not c.is_passed]
    assert all(c.classname == "release" for c in passing)

    code, xml = junit(binary, "tests/corpus/testing/failing")
    assert code == 1, code
    failing = cases(xml)
    assert len(failing) == 4, [c.name for c in failing]
    for c in failing:
        failures = [r for r in c.result if isinstance(r, Failure)]
        assert len(failures) == 1, (c.name, c.result)
        assert failures[0].message, c.name
        assert "deploy.test.wflow:" in failures[0].text, failures[0].text
    suite = next(iter(xml))
    assert suite.tests == 4 and suite.failures == 4, (suite.tests, suite.failures)
    print("junit: %d passing and %d failing cases read back" % (len(passing), len(failing)))


if __name__ == "__main__":
    main()
