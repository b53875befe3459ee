"""`pacs` command: a clinic's PACS over DICOMweb (core.pacs). `find` lists a patient's studies (or one, --study),
series and instances, each study's images numbered; `pull` retrieves their images (or one study's, or one image of
it, --image) as .dcm files into a folder (all or nothing). Credentials come from the environment or the OS keyring
(core.pacs.connection), never from the command line."""

from __future__ import annotations

import json

from core.errors import InputError
from core.io.files import printable


def run_pacs(args) -> int:
    from core.pacs.connection import PacsError, open_pacs
    from core.pacs.transfer import find, pull

    pacs = open_pacs(args.url, max_bytes=_max_bytes(args))
    if args.action == "find":
        studies = find(pacs, args.patient_id, args.study)
        if args.study and not studies:
            raise PacsError(f"{pacs.url}: patient {printable(args.patient_id, 80)} has no study "
                            f"{printable(args.study, 80)}")
        if args.json:
            print(json.dumps({"patient_id": args.patient_id, "studies": studies}))
        else:
            _print_studies(args.patient_id, studies)
        return 0
    pulled = pull(pacs, args.patient_id, args.out, study_uid=args.study, image=args.image, overwrite=args.force,
                  include_reports=args.include_reports)
    for path in pulled.files:
        print(f"wrote {printable(path)}")
    if pulled.reports:
        print(f"left {pulled.reports} report picture(s) this workstation filed on the PACS (--include-reports pulls "
              "them)")
    if pulled.skipped:
        print(f"left {pulled.skipped} instance(s) without pixels (reports, structured reports) on the PACS")
    return 0


def _max_bytes(args) -> int:
    from core.pacs.connection import MAX_INSTANCE_BYTES

    value = getattr(args, "max_mb", None)
    if value is None:
        return MAX_INSTANCE_BYTES
    if not (0 < value < float("inf")):  # nan and inf too: int() of either is no size
        raise InputError(f"--max-mb: give a size in MB above 0, got {value}")
    return int(value * 1024 * 1024)


def _print_studies(patient_id: str, studies: list[dict]) -> None:
    from core.pacs.images import image_label, study_images, workstation_report

    if not studies:
        print(f"no studies of patient {printable(patient_id, 80)}")
        return
    for study in studies:
        # every field as the server sent it, so printable(): a control character never reaches the terminal
        print(f"study {printable(study['date'] or 'undated', 16)} {printable(study['description'] or '-', 64)}  "
              f"accession {printable(study['accession'] or '-', 16)}  {study['images']} image(s)  "
              f"{study['study_uid']}")
        labels = {image["sop_uid"]: image_label(image) for image in study_images(study)}
        for series in study["series"]:
            print(f"  series {printable(series['number'] or '-', 16)} {printable(series['modality'] or '-', 16)} "
                  f"{printable(series['body_part'] or '-', 16)} {printable(series['description'] or '', 64)}: "
                  f"{len(series['instances'])} instance(s)  {series['series_uid']}")
            other = "a Siamese Lens report (not an image)" if workstation_report(series) else "no pixels (not an image)"
            for instance in series["instances"]:
                print(f"    {labels.get(instance['sop_uid'], other)}  {instance['sop_uid']}")
