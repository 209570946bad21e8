// SPDX-License-Identifier: GPL-3.0-or-later
//
// Neural Face job type for Flamenco 3 (docs/farm.md). Copy this file into the `scripts`
// folder next to the Flamenco Manager executable and restart the Manager; the Blender
// add-on then offers "Neural Face" as a job type.
//
// A job is compiled into
//   prepare                  shot.json of the whole frame range (one task)
//   export-A-B               passes of one chunk           (depends on prepare)
//   synthesise-A-B           faces of that chunk            (depends on export-A-B)
//   composite-A-B            composited frames of the chunk (depends on synthesise-A-B)
//   preview-video            composite/*.png to an MP4      (depends on every composite)
// so a chunk moves on as soon as its own previous stage is done: there is no barrier
// between stages. Temporal smoothing adds none either: it reads neighbouring frames'
// coefficients, which shot.json holds from the prepare task on. With stabilise_colour the
// prepare task also exports the passes of the five frames every chunk takes its reference
// colour from, so that barrier is passed before any chunk starts.
//
// Written from Flamenco 3's job-type documentation (JOB_TYPE, compileJob, author.Task,
// author.Command, job.addTask, task.addCommand, task.addDependency, the blender-render,
// exec and frames-to-video commands); tested under Node against a stand-in for that API
// (tests/core/flamenco/), not against a real Flamenco Manager.

const JOB_TYPE = {
    label: "Neural Face",
    description: "Export passes, synthesise the neural face and composite it, in chunks of frames",
    settings: [
        { key: "frames", type: "string", required: true,
          eval: "f'{C.scene.frame_start}-{C.scene.frame_end}'",
          evalInfo: { showLinkButton: true, description: "Scene frame range" },
          description: "Frames of the shot, FIRST-LAST (one contiguous range)" },
        { key: "chunk_size", type: "int32", default: 12, propargs: { min: 1 }, visible: "submission",
          description: "Frames per task: each stage of a chunk is one task" },
        { key: "job_folder", type: "string", subtype: "dir_path", required: true, visible: "submission",
          description: "Shared folder of the job: shot/, frames/, composite/ and logs/ go in it" },
        { key: "render_shot_script", type: "string", subtype: "file_path", required: true, visible: "submission",
          description: "tools/render_shot.py of the Neural Face checkout, as the Workers see it" },
        { key: "worker_python", type: "string", subtype: "file_path", required: true, visible: "submission",
          description: "Python that runs the synthesis (the checkout's .venv/bin/python), as the Workers see it" },
        { key: "composite", type: "bool", default: true, visible: "submission",
          description: "Composite the faces over the scene's render and make a preview video" },
        { key: "model", type: "string", default: "default", visible: "submission",
          eval: "abspath(C.scene.neural_face.model_path) if C.scene.neural_face.model_path else 'default'",
          description: "Checkpoint file, or 'default' for the bundled model" },
        { key: "appearance", type: "int32", default: 0, eval: "C.scene.neural_face.appearance_seed",
          visible: "submission", description: "Appearance seed" },
        { key: "smoothing", type: "float", default: 0.0, eval: "C.scene.neural_face.smoothing",
          visible: "submission", description: "Temporal smoothing: Gaussian sigma in frames (0 = off)" },
        { key: "format", type: "string", default: "png", eval: "C.scene.neural_face.file_format.lower()",
          visible: "web", description: "Frame format of the synthesised faces: png or exr" },
        { key: "stabilise_colour", type: "bool", default: false, eval: "C.scene.neural_face.stabilise_colour",
          visible: "submission", description: "Hold the skin's colour to the shot's reference (needs the regions pass)" },
        { key: "stabilise_brightness", type: "bool", default: false, eval: "C.scene.neural_face.stabilise_brightness",
          visible: "submission", description: "Also hold the skin's mean brightness (shots lit the same throughout)" },
        { key: "device", type: "string", default: "auto", eval: "C.scene.neural_face.device.lower()",
          visible: "submission", description: "Synthesis device: auto, cpu or cuda" },
        { key: "fps", type: "float", eval: "C.scene.render.fps / C.scene.render.fps_base", visible: "hidden" },
        { key: "blendfile", type: "string", required: true, visible: "web",
          description: "Path of the .blend file to render" },
        { key: "scene", type: "string", required: true, eval: "C.scene.name", visible: "web",
          description: "Name of the scene to render" },
    ],
};

function compileJob(job) {
    const settings = job.settings;
    const range = frameRange(settings.frames);
    const chunkSize = Number(settings.chunk_size);
    if (!Number.isInteger(chunkSize) || chunkSize < 1) {
        throw new Error(`chunk_size must be a whole number of frames, at least 1 (got "${settings.chunk_size}")`);
    }
    for (const key of ["job_folder", "render_shot_script", "worker_python", "blendfile", "scene"]) {
        if (!settings[key]) {
            throw new Error(`the setting "${key}" is empty`);
        }
    }
    const shotFrames = `${range.first}-${range.last}`;
    const folder = settings.job_folder;

    const colour = settings.stabilise_colour || settings.stabilise_brightness ? ["--stabilise-colour"] : [];
    const stabilise = colour.concat(settings.stabilise_brightness ? ["--stabilise-brightness"] : []);
    const prepare = blenderTask(settings, "prepare", ["--shot-frames", shotFrames, "--only", "prepare"].concat(colour));
    job.addTask(prepare);
    const composites = [];
    for (const chunk of chunks(range, chunkSize)) {
        const frames = `${chunk.first}-${chunk.last}`;
        const exportTask = blenderTask(settings, `export-${frames}`,
            ["--shot-frames", shotFrames, "--frames", frames, "--only", "export"]);
        exportTask.addDependency(prepare);
        job.addTask(exportTask);

        const synthesise = author.Task(`synthesise-${frames}`, "misc");
        synthesise.addCommand(author.Command("exec", {
            exe: settings.worker_python,
            args: ["-m", "neural_core", "render", path.join(folder, "shot"),
                   "--out", path.join(folder, "frames"), "--frames", frames,
                   "--model", settings.model || "default", "--appearance", String(settings.appearance || 0),
                   "--smoothing", String(settings.smoothing || 0), "--format", settings.format || "png",
                   "--device", settings.device || "auto", "--json"].concat(stabilise),
        }));
        synthesise.addDependency(exportTask);
        job.addTask(synthesise);

        if (settings.composite) {
            const composite = blenderTask(settings, `composite-${frames}`,
                ["--frames", frames, "--format", settings.format || "png", "--only", "composite"], true);
            composite.addDependency(synthesise);
            job.addTask(composite);
            composites.push(composite);
        }
    }
    if (composites.length && settings.fps) {
        const video = author.Task("preview-video", "ffmpeg");
        video.addCommand(author.Command("frames-to-video", {
            exe: "ffmpeg",
            fps: settings.fps,
            inputGlob: path.join(folder, "composite", "*.png"),
            outputFile: path.join(folder, `preview-${shotFrames}.mp4`),
            args: ["-c:v", "h264", "-crf", "20", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p",
                   "-r", settings.fps, "-y"],
        }));
        for (const composite of composites) {
            video.addDependency(composite);
        }
        job.addTask(video);
    }
}

// "1-48" -> {first: 1, last: 48}; one contiguous range (a shot folder holds one).
function frameRange(text) {
    const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(String(text));
    if (!match) {
        throw new Error(`frames must be one range FIRST-LAST such as 1-48 (got "${text}")`);
    }
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last < first) {
        throw new Error(`the frame range ${text} ends before it starts`);
    }
    return { first: first, last: last };
}

function chunks(range, size) {
    const result = [];
    for (let first = range.first; first <= range.last; first += size) {
        result.push({ first: first, last: Math.min(first + size - 1, range.last) });
    }
    return result;
}

// A Blender task running tools/render_shot.py on the job's .blend file. The composite
// stage prints "Saved: '<file>'" for each finished frame, which a blender-render command
// makes the Worker send to the Manager as the job's latest image. The other stages run
// as plain exec commands, so the hidden temporary files Blender itself reports saving
// are never offered as previews.
function blenderTask(settings, name, stageArgs, previews) {
    const task = author.Task(name, "blender");
    const script = ["--python-exit-code", "1", "--python", settings.render_shot_script, "--",
                    "--out", settings.job_folder, "--scene", settings.scene].concat(stageArgs);
    if (previews) {
        task.addCommand(author.Command("blender-render", {
            exe: "{blender}",
            exeArgs: "{blenderArgs}",
            argsBefore: [],
            blendfile: settings.blendfile,
            args: script,
        }));
    } else {
        task.addCommand(author.Command("exec", {
            exe: "{blender}",
            args: ["-b", "-y", settings.blendfile].concat(script),
        }));
    }
    return task;
}
