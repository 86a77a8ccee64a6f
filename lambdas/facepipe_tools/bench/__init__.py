"""``facepipe bench``: how fast the pipeline is and what it costs, one module per concept.

The main run (``run_bench``, module ``run``) and its parts:

- ``frames``: the frames measured and the facenet-vggface2 weights exported;
- ``stages``: each stage of a frame timed in process, and the index query;
- ``references``: the naive seed-003 way and ``face_recognition`` on the same frames;
- ``grader``: the seed grader's client; ``end_to_end``: local stacks driven by it;
- ``cold_start``: each function in a fresh process;
- ``sizing``: what a second vCPU buys, the Lambda size and cost;
- ``report``: the typed report (``BenchReport``) and its JSON; ``render``: its Markdown and plot;
- ``measuring``: ``Stats``, timing, peak RSS, fresh processes, writing a report.

The other benches, each its own report: ``detection`` (``--detection``), ``images``
(``--images``), ``console`` with ``console_data`` (``--console``), ``events`` (``--events``);
``aws_calls`` counts the AWS requests of the last two.
"""

from facepipe_tools.bench.console import run_console_bench
from facepipe_tools.bench.detection import run_detection_bench
from facepipe_tools.bench.events import run_events_bench
from facepipe_tools.bench.images import run_images_bench
from facepipe_tools.bench.run import run_bench

__all__ = ["run_bench", "run_console_bench", "run_detection_bench", "run_events_bench", "run_images_bench"]
