"""The command line's argument parser: every command and its options, no work done here.

main.py parses with `parse` and dispatches: `gui` (the default when no command is named) goes to the Qt app, every
other command to its module in cli/ (cli.run). `--selftest` is kept as an alias of the `selftest` command: CI,
build.spec and the README call the binary that way.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys

from core.explain.methods import REGISTRY  # torch-free: each method's one line of help
from core.version import APP_NAME, __version__
from core.vocabulary import (
    COLORMAPS,
    DEFAULT_COLORMAP,
    DEFAULT_DEVICE,
    DEFAULT_LAYER_COLORMAPS,
    DEFAULT_METHOD,
    DEVICES,
    INPUT_SIZE_RANGE,
    MAX_MAP_SIDE,
    METHODS,
    MIN_CROP_SIDE,
    PRETRAINING_DEFAULTS,
    TRAINING_DEFAULTS,
    TTA_MODES,
)

# Each command's handler as (module in cli/, function of the parsed arguments): cli.run dispatches through this
# table, importing a command's module only when it runs, and build_parser declares exactly these commands (tested).
HANDLERS = {"explain": ("explain", "run_explain"), "train": ("train", "run_train"),
            "pretrain": ("pretrain", "run_pretrain"), "probe": ("probe", "run_probe"),
            "evaluate": ("evaluate", "run_evaluate"), "index": ("retrieve", "run_index"),
            "retrieve": ("retrieve", "run_retrieve"), "batch": ("batch", "run_batch_command"),
            "worklist": ("batch", "run_worklist_command"), "calibrate": ("calibrate", "run_calibrate"),
            "selftest": ("selftest", "run_selftest_command"), "followup": ("followup", "run_followup"),
            "pacs": ("pacs", "run_pacs"), "explainer": ("explainer", "run_explainer")}
COMMANDS = ("gui", *HANDLERS)
# Options whose value may start with '-' (a crop's negative x): argparse would read such a value as an option and
# answer "expected one argument" instead of letting the crop check say what is wrong.
DASHED_VALUE_OPTIONS = ("--crop1", "--crop2")
T = TRAINING_DEFAULTS
P = PRETRAINING_DEFAULTS


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports usage errors as a single line and exit status 2, worded as every other error."""

    def error(self, message):
        sys.stderr.write(f"error: {self.prog}: {message} (see --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="main.py",
        description=f"{APP_NAME}: explainable image similarity with Siamese networks.",
        epilog="With no command, opens the review workstation: "
               "main.py [IMG1 IMG2] [--model PATH] [--screenshot FILE.png].",
    )
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    # Options many commands share, declared once (argparse parents)
    device = OneLineParser(add_help=False)
    device.add_argument("--device", choices=DEVICES, default=DEFAULT_DEVICE, help="where the model runs")
    model = OneLineParser(add_help=False, parents=[device])
    model.add_argument("--model", help="weights file (default: the shipped skin model)")
    json_output = OneLineParser(add_help=False)
    json_output.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    dicom_outputs = OneLineParser(add_help=False)
    dicom_outputs.add_argument("--sr", metavar="FILE.dcm", help="also write the measurements, the similarity and the "
                               "model's verdict as a DICOM Structured Report (TID 1500) into the DICOM images' study")
    dicom_outputs.add_argument("--store", metavar="URL", help="store the DICOM report and --sr into the source study "
                               "on this PACS (its DICOMweb URL; credentials from SIAMESE_LENS_PACS_USER/_PASSWORD or "
                               "_TOKEN, or the OS keyring; docs/pacs.md)")

    gui = sub.add_parser("gui", help="open the review workstation (the default)")
    gui.add_argument("images", nargs="*", metavar="IMG", help="zero or two images to load and explain")
    gui.add_argument("--model", help="weights file (default: the shipped skin model)")
    gui.add_argument("--device", choices=DEVICES, default=None,
                     help="where the model runs (default: remembered, else auto)")
    gui.add_argument("--screenshot", metavar="FILE.png",
                     help="render the window offscreen once the pair is explained, save it, exit")
    gui.add_argument("--worklist", metavar="PATH",
                     help="the review worklist file (default: remembered, else in the user data folder)")

    explain = sub.add_parser(
        "explain", parents=[model, json_output, dicom_outputs],
        help="score a pair and write its factual/counterfactual maps",
        description="Score a pair and explain the score with factual/counterfactual maps. Maps are kept at most "
                    f"{MAX_MAP_SIDE} px on their longest side (a crop's own size when smaller): --out writes them at "
                    "that size (the JSON's images[].map_size says which), and overlays and reports upsample them to "
                    "the image they are drawn on.")
    explain.add_argument("image1", metavar="IMG1")
    explain.add_argument("image2", metavar="IMG2")
    for n in (1, 2):
        explain.add_argument(f"--crop{n}", metavar="x,y,w,h",
                             help=f"crop box of image {n} in its pixel coordinates, at least {MIN_CROP_SIDE} px a side")
    explain.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                         help="; ".join(f"{m.name}: {m.help}" for m in REGISTRY.values()))
    explain.add_argument("--out", metavar="DIR", help="write each map as .npy (at most "
                         f"{MAX_MAP_SIDE} px a side) and as a colour overlay .png on its image; the folder is created")
    explain.add_argument("--colormap", choices=COLORMAPS, default=None,
                         help=f"colormap of every map in --out overlays and the report: one of {', '.join(COLORMAPS)} "
                              f"(default: {DEFAULT_LAYER_COLORMAPS['factual']} for factual maps, "
                              f"{DEFAULT_LAYER_COLORMAPS['counterfactual']} for counterfactual ones)")
    explain.add_argument("--report", metavar="FILE.png",
                         help="write a report (.png, .pdf or .dcm: by the name) and its JSON sidecar; the folder "
                              "is created")
    explain.add_argument("--note", default="", help="reviewer note printed on the report")
    add_case_record_options(explain, "acquisition date of each image, YYYY-MM-DD (either may be left empty)")
    explain.add_argument("--force", action="store_true", help="overwrite an existing report")
    explain.add_argument("--first-map", action="store_true",
                         help=f"with --out or a report: keep the {DEFAULT_METHOD} maps (one pass) instead of "
                              "refining them with coalition gradients (about 1 s more a pair; "
                              "docs/explanations.md)")
    explain.add_argument("--faithfulness", action="store_true",
                         help="also compute deletion/insertion curves of the factual maps against three random "
                              "maps: faithful, inconclusive or not better than chance")
    explain.add_argument("--correspondence", type=int, default=0, metavar="K",
                         help="also find the K strongest links between the images' parts (which part of image 1 "
                              "matches which part of image 2); --json lists them in each image's own pixels")

    train = sub.add_parser("train", parents=[device], help="train a Siamese model on a folder-per-class data set")
    train.add_argument("data_dir", metavar="DATA_DIR", help="a folder per class, each holding its images")
    _add_network_out(train, "PATH.json (its metadata), PATH.curves.png")
    train.add_argument("--embedding-dim", type=int, default=T["embedding_dim"],
                       help=f"length of an image's embedding (default {T['embedding_dim']})")
    train.add_argument("--epochs", type=int, default=T["epochs"], help=f"at most (default {T['epochs']})")
    train.add_argument("--batch-size", type=int, default=T["batch_size"],
                       help=f"images a step (default {T['batch_size']})")
    train.add_argument("--lr", type=float, default=T["lr"],
                       help=f"peak learning rate of the one-cycle schedule (default {T['lr']:g})")
    train.add_argument("--weight-decay", type=float, default=T["weight_decay"],
                       help=f"AdamW weight decay (default {T['weight_decay']:g})")
    train.add_argument("--margin", type=float, default=T["margin"],
                       help=f"contrastive loss margin (default {T['margin']:g})")
    train.add_argument("--augment", default=T["augment"],
                       help="comma list of hflip,vflip,rotate,crop,jitter,artefacts,bgswap, or none "
                            f"(default {T['augment']})")
    train.add_argument("--paper-pairs-only", action="store_true",
                       help="train only on the Livieris pairs, not on all pairs in a batch")
    train.add_argument("--attention-weight", type=float, default=0.0,
                       help="> 0 enables the attention-guided constraint (Zheng et al. 2020)")
    train.add_argument("--lesion-weight", type=float, default=0.0,
                       help="> 0 penalises the first map's evidence outside the automatic lesion mask (dermoscopy)")
    train.add_argument("--patience", type=int, default=T["patience"],
                       help=f"epochs without a better validation AUC before stopping (default {T['patience']})")
    train.add_argument("--seed", type=int, default=T["seed"],
                       help=f"seed of the split, pairs and initialisation (default {T['seed']})")
    train.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    train.add_argument("--cache-dir", default=T["cache_dir"], help="where decoded images are cached")
    train.add_argument("--name", default="", help="model name shown in the app (default: the data folder's name)")
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint next to --out")
    train.add_argument("--force", action="store_true", help="let --out replace an existing weights file")
    train.add_argument("--init-from", default="", metavar="PATH.pt",
                       help="start from another model's weights (fine-tuning)")
    train.add_argument("--lesion-crop", action="store_true",
                       help="crop every image to its automatic lesion box (dermoscopy); the model then always does")
    train.add_argument("--crop-margin", type=float, default=T["crop_margin"],
                       help="margin around the lesion box, as a fraction of its side")
    train.add_argument("--color-constancy", action="store_true", help="Shades of Gray colour correction of every input")

    pretrain = sub.add_parser("pretrain", parents=[device],
                              help="self-supervised (SimSiam) pretraining of a backbone on every image of "
                                   "one or more data sets, labels ignored; `train --init-from` fine-tunes the result")
    pretrain.add_argument("data_dirs", nargs="+", metavar="DATA_DIR", help="folder-per-class data sets")
    _add_network_out(pretrain, "PATH.json (its metadata)")
    pretrain.add_argument("--epochs", type=int, default=P["epochs"], help=f"(default {P['epochs']})")
    pretrain.add_argument("--batch-size", type=int, default=T["batch_size"],
                          help=f"images a step, two views each (default {T['batch_size']})")
    pretrain.add_argument("--lr", type=float, default=None, help="base learning rate (default 0.05 x batch size / 256)")
    pretrain.add_argument("--seed", type=int, default=T["seed"], help=f"(default {T['seed']})")
    pretrain.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    pretrain.add_argument("--cache-dir", default=T["cache_dir"], help="where decoded images are cached")
    pretrain.add_argument("--probe", type=int, default=P["probe_every"], metavar="N",
                          help=f"k-NN probe of the backbone on each data set every N epochs and after the last "
                          f"(default {P['probe_every']}; 0: never)")
    pretrain.add_argument("--name", default="", help="model name (default: the data sets' names)")
    pretrain.add_argument("--resume", action="store_true", help="continue from the checkpoint next to --out")
    pretrain.add_argument("--force", action="store_true", help="let --out replace an existing weights file")

    probe = sub.add_parser("probe", parents=[device, json_output],
                           help="k-NN accuracy and pair AUC of a model's backbone features on labelled data sets")
    probe.add_argument("model_path", metavar="MODEL.pt")
    probe.add_argument("data_dirs", nargs="+", metavar="DATA_DIR", help="folder-per-class data sets")
    probe.add_argument("-k", type=int, default=P["probe_k"], help=f"neighbours that vote (default {P['probe_k']})")
    probe.add_argument("--cache-dir", default=T["cache_dir"], help="where decoded images are cached ('' for none)")

    evaluate = sub.add_parser("evaluate", parents=[model, json_output],
                              help="pair accuracy, ROC AUC and confusion matrix of a model on a data set")
    evaluate.add_argument("data_dir", metavar="DATA_DIR", help="a folder per class, each holding its images")
    evaluate.add_argument("--pairs", type=int, default=None, metavar="N",
                          help="at most N pairs (default: two per image)")
    evaluate.add_argument("--include-seen", action="store_true",
                          help="also use images the model was trained or tuned on")
    evaluate.add_argument("--roc", metavar="FILE.png", help="save the ROC curve (.png or .pdf; refused if it exists)")
    evaluate.add_argument("--risk-coverage", metavar="FILE.png",
                          help="save the selective accuracy against coverage (calibrated models; refused if it "
                               "exists)")
    evaluate.add_argument("--force", action="store_true", help="let --roc and --risk-coverage overwrite existing files")
    evaluate.add_argument("--retrieval", action="store_true",
                          help="also report similar-case retrieval: unseen images as queries against the "
                               "training images")
    evaluate.add_argument("--lift-pairs", type=int, default=None, metavar="N",
                          help="explain N pairs and report the maps' lesion lift "
                               "(default: 200 for a skin model, else 0)")
    evaluate.add_argument("--explanations", type=int, default=0, metavar="N",
                          help="explain N unseen pairs with every method and report the pair-metrics table: "
                               "deletion/insertion AUCs (blur and ROAD), lesion mass and pointing game (skin), "
                               "parameter-randomisation rank correlation, max-sensitivity")
    evaluate.add_argument("--methods", metavar="M1,M2", default=None,
                          help="with --explanations: only these methods (comma-separated; default all)")
    index = sub.add_parser("index", parents=[model], help="build or update the similar-case index of a gallery folder")
    index.add_argument("gallery", metavar="GALLERY_DIR", help="images, in a folder per class (labels) or flat")
    index.add_argument("--out", metavar="INDEX_DIR",
                       help="where the index lives (default: GALLERY_DIR/.siamese-lens-index)")
    index.add_argument("--rebuild", action="store_true", help="embed every image again (e.g. after changing the model)")

    retrieve = sub.add_parser("retrieve", parents=[model, json_output],
                              help="the nearest cases of a query image in a gallery or index")
    retrieve.add_argument("query", metavar="QUERY")
    retrieve.add_argument("gallery", metavar="GALLERY_DIR|INDEX_DIR")
    retrieve.add_argument("-k", type=int, default=10, help="how many nearest cases (default 10)")
    retrieve.add_argument("--report", metavar="FILE.png",
                          help="the query beside each hit with their factual maps (.png, .pdf or .dcm: by the "
                               "name), plus its JSON sidecar")
    retrieve.add_argument("--colormap", choices=COLORMAPS, default=DEFAULT_COLORMAP,
                          help=f"map colormap of the report: one of {', '.join(COLORMAPS)} "
                               f"(default {DEFAULT_COLORMAP})")
    retrieve.add_argument("--force", action="store_true", help="overwrite an existing report")
    retrieve.add_argument("--store", metavar="URL", help="store the DICOM report (--report FILE.dcm) into the query "
                          "image's study on this PACS (docs/pacs.md)")

    batch = sub.add_parser("batch", parents=[model], help="score (and report) every pair of a CSV headless; resumable")
    batch.add_argument("pairs_csv", metavar="PAIRS.csv", help="header image1,image2[,case_id,crop1,crop2,note,...] "
                       "(docs/cli.md); a relative image path names a file beside the CSV")
    batch.add_argument("--out", required=True, metavar="DIR", help="summary.csv (and reports/) go here")
    batch.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                       help=f"map method of the reports (default {DEFAULT_METHOD}; explain --help describes each)")
    batch.add_argument("--report", action="store_true", help="also write a report PNG + JSON per pair")
    batch.add_argument("--worklist", metavar="PATH", help="also add the pairs and results to this worklist")

    worklist = sub.add_parser("worklist", help="import pairs into the review worklist, export it, or count its cases")
    worklist.add_argument("--worklist", metavar="PATH", help="the worklist file (default: in the user data folder)")
    worklist.add_argument("--import", dest="import_csv", metavar="PAIRS.csv", help="add a case per good row")
    worklist.add_argument("--export", dest="export_csv", metavar="FILE.csv",
                          help="write every case with its latest result to FILE.csv (refused if it exists)")
    worklist.add_argument("--force", action="store_true", help="let --export overwrite an existing file")

    calibrate = sub.add_parser("calibrate", parents=[json_output],
                               help="fit a model's calibration and out-of-domain summary on its "
                                    "own split of DATA_DIR and store them in its weights file (tensors unchanged)")
    calibrate.add_argument("model_path", metavar="MODEL.pt")
    calibrate.add_argument("data_dir", metavar="DATA_DIR", help="the data set the model was trained on")
    calibrate.add_argument("--cache-dir", default=".cache", help="where decoded images are cached ('' for none)")
    calibrate.add_argument("--tta", choices=("auto", *TTA_MODES),
                           help="first choose the model's test-time augmentation on validation (auto: the best "
                           "mode if it gains >= 0.005 AUC over none), then its threshold and test metrics")

    explainer = sub.add_parser("explainer", parents=[json_output],
                               help="train a model's amortised first map (a small head that predicts its coalition "
                                    "map from one pass) on its own training split of DATA_DIR and store it in its "
                                    "weights file; resumable")
    explainer.add_argument("model_path", metavar="MODEL.pt")
    explainer.add_argument("data_dir", metavar="DATA_DIR", help="the data set the model was trained on")
    explainer.add_argument("--pairs", type=int, default=1000,
                           help="training pairs (each costs 16 pair passes once; cached): default 1000")
    explainer.add_argument("--width", type=int, default=32, help="the head's channels (default 32)")
    explainer.add_argument("--target-seeds", type=int, default=1,
                           help="coalition maps averaged into each pair's target, each under its own mask seed "
                                "(each costs 16 pair passes a pair once; cached): default 1")
    explainer.add_argument("--fit-seed", type=int, default=0,
                           help="seed of the head's initialisation and batch order (default 0); the targets do not "
                                "depend on it, so another seed refits from the cache")
    explainer.add_argument("--insertion-weight", type=float, default=0.5,
                           help="weight of the coalitions restoring under half the cells (what an insertion "
                                "test's early fractions restore) against their complements' 1 - W; other than 0.5 "
                                "costs 8 more pair passes a pair once (cached): default 0.5, the coalition map")
    explainer.add_argument("--cache-dir", default="runs/explainer",
                           help="where the pairs' targets are cached, per backbone (default runs/explainer)")

    _add_followup(sub, [model, json_output, dicom_outputs])

    _add_pacs(sub, json_output)

    sub.add_parser("selftest", help="explain a bundled sample pair headless with the default model, print a JSON "
                   "summary, exit (also: main.py --selftest)")

    return parser


def add_case_record_options(command, dates_help: str) -> None:
    """The case record (core.review.case_record) written into a command's report and JSON: one set of options."""
    command.add_argument("--case-id", default="", metavar="ID", help="case identifier, written into report and JSON")
    command.add_argument("--patient-id", default="", metavar="ID", help="pseudonymised patient identifier, as given")
    command.add_argument("--body-site", default="", metavar="TEXT", help="body site of the lesion")
    command.add_argument("--acquired", default="", metavar="DATE1,DATE2", help=dates_help)
    command.add_argument("--reviewer", default="", metavar="NAME", help="who reviewed the pair")


def _add_followup(sub, parents: list) -> None:
    followup = sub.add_parser(
        "followup", parents=parents,
        help="one lesion at two or more visits: register each onto the baseline, measure, explain the last",
        description="Sequential dermoscopy: the follow-up image is registered onto the baseline on the skin around "
                    "the lesion, both visits are measured (area, longest diameter, asymmetry, border irregularity, "
                    "colours; in mm with --pixel-size-mm or a DICOM pixel spacing) and the aligned pair is explained "
                    "by the model with the usual verdict rules.")
    followup.add_argument("visits", nargs="+", metavar="VISIT",
                          help="two or more images of one lesion: BASELINE FOLLOWUP [FOLLOWUP ...]; sorted by date "
                               "when every visit has one (--acquired or DICOM), the earliest the baseline")
    followup.add_argument("--pixel-size-mm", metavar="S", help="size of one baseline pixel in mm (default: the "
                          "DICOM file's pixel spacing, else unknown and measurements are in pixels)")
    followup.add_argument("--registration", choices=("auto", "rigid", "similarity"), default="auto",
                          help="auto (default): similarity when the magnification evidently differs, else rigid; "
                               "rigid: rotation and shift; similarity: also a change of magnification")
    for n, name in ((1, "baseline"), (2, "follow-up")):
        followup.add_argument(f"--mask{n}", metavar="MASK.png", help=f"the {name} lesion outline drawn by the "
                              "reviewer: an image of the same size, lesion bright (default: the lesion finder's)")
    followup.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                          help=f"map method of the aligned pair (default {DEFAULT_METHOD}; explain --help describes "
                               "each)")
    followup.add_argument("--report", metavar="FILE.png", help="write a follow-up report (.png, .pdf or .dcm) and "
                          "its JSON sidecar; the folder is created")
    followup.add_argument("--note", default="", help="reviewer note printed on the report")
    add_case_record_options(followup, "date of each visit, YYYY-MM-DD (default: the DICOM files' dates)")
    followup.add_argument("--force", action="store_true", help="overwrite an existing report")


def _add_pacs(sub, json_output) -> None:
    pacs = sub.add_parser("pacs", help="find and pull a patient's images on a clinic's PACS (DICOMweb)",
                          description="A clinic's PACS over DICOMweb. Credentials come from the environment "
                                      "(SIAMESE_LENS_PACS_USER and SIAMESE_LENS_PACS_PASSWORD, or "
                                      "SIAMESE_LENS_PACS_TOKEN) or the OS keyring, never from the command line "
                                      "(docs/pacs.md).")
    pacs.add_argument("--url", required=True, help="the PACS's DICOMweb URL, e.g. https://pacs.example.org/dicom-web")
    actions = pacs.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=OneLineParser)
    find = actions.add_parser("find", parents=[json_output], help="list a patient's studies, series and instances, "
                              "each study's images numbered")
    find.add_argument("--patient-id", required=True, metavar="ID", help="the patient's exact id (no wildcards)")
    find.add_argument("--study", metavar="UID", help="only this study: its images numbered, with what tells them "
                      "apart (series description, instance, body part, laterality, size)")
    pull = actions.add_parser("pull", help="retrieve a patient's images as .dcm files into a folder")
    pull.add_argument("--patient-id", required=True, metavar="ID", help="the patient's exact id (no wildcards)")
    pull.add_argument("--study", metavar="UID", help="only this study (StudyInstanceUID; `find` lists them)")
    pull.add_argument("--image", metavar="N|UID", help="only this image of --study: its number in `find --study` "
                      "(1, 2, ...) or its SOP Instance UID")
    pull.add_argument("--out", required=True, metavar="DIR", help="the folder the files go to; created")
    pull.add_argument("--max-mb", type=float, default=None, metavar="MB",
                      help="refuse an instance larger than this (default 512)")
    pull.add_argument("--force", action="store_true", help="overwrite files pulled before")
    pull.add_argument("--include-reports", action="store_true",
                      help="also pull the report pictures Siamese Lens filed (left on the PACS by default)")


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse argv; with no command named (or only images/GUI options), the command is `gui`."""
    if argv[:1] == ["--selftest"]:
        argv = ["selftest", *argv[1:]]
    argv = _attach_dashed_values(argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        misspelt = _misspelt_command(argv[0]) if argv else ""
        if misspelt:
            build_parser().error(misspelt)
        argv = ["gui", *argv]
    return build_parser().parse_args(argv)


def _misspelt_command(word: str) -> str:
    """Why `word`, first on the line, is taken for a misspelt command rather than the window's image ('' if it is
    not): no option, no file, no extension, no folder in it. Read as an image, `main.py explian a.jpg b.jpg` said
    "give zero or two images, not 3" and `main.py repport a.jpg` opened the window on a missing image."""
    if word.startswith("-") or "." in word or "/" in word or os.sep in word or os.path.exists(word):
        return ""
    close = difflib.get_close_matches(word, COMMANDS, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"commands: {', '.join(COMMANDS)}"
    return f"{word!r} is neither a command nor an image file ({hint})"


def _add_network_out(parser: argparse.ArgumentParser, sidecars: str) -> None:
    """--out, --architecture and --input-size, as train and pretrain both take them (an input size outside
    INPUT_SIZE_RANGE is refused as the option is read; an unknown architecture is answered with the list,
    core.model.network.ModelConfig)."""
    parser.add_argument("--out", required=True, metavar="PATH.pt",
                        help=f"the weights file to write, with {sidecars} and, while training, PATH.checkpoint.pt "
                             "(--resume)")
    parser.add_argument("--architecture", default=T["architecture"],
                        help=f"backbone (default {T['architecture']}; an unknown name is answered with the list)")
    low, high = INPUT_SIZE_RANGE
    parser.add_argument("--input-size", type=_input_size, default=T["input_size"],
                        help=f"side in px of the square network input, {low}..{high} (default {T['input_size']})")


def _input_size(text: str) -> int:
    """--input-size's value: a whole number of pixels in INPUT_SIZE_RANGE (argparse names the option in its one
    line, exit 2)."""
    low, high = INPUT_SIZE_RANGE
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of pixels in {low}..{high}, got {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be in {low}..{high} pixels, got {value}")
    return value


def _attach_dashed_values(argv: list[str]) -> list[str]:
    """`--crop1 -5,0,10,10` -> `--crop1=-5,0,10,10`, which argparse takes as the option's value."""
    out: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        following = argv[index + 1] if index + 1 < len(argv) else ""
        if token in DASHED_VALUE_OPTIONS and following[:1] == "-" and following[1:2].isdigit():
            out.append(f"{token}={following}")
            index += 2
        else:
            out.append(token)
            index += 1
    return out
