// macro_nerf report: before/after sliders and the mesh viewer (three.js, vendored above).
(function () {
  "use strict";

  function setSlider(input) {
    var fig = document.getElementById(input.getAttribute("data-for"));
    var v = Number(input.value);
    fig.querySelector("img.over").style.clipPath = "inset(0 " + (100 - v) + "% 0 0)";
    fig.querySelector(".divider").style.left = v + "%";
  }

  function initSliders() {
    var inputs = document.querySelectorAll("input.slider");
    for (var i = 0; i < inputs.length; i++) {
      inputs[i].addEventListener("input", function (e) { setSlider(e.target); });
      setSlider(inputs[i]);
    }
  }

  function decode(b64, Type) {
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Type(bytes.buffer);
  }

  function webglAvailable() {
    try {
      var c = document.createElement("canvas");
      return !!(window.WebGLRenderingContext && (c.getContext("webgl2") || c.getContext("webgl")));
    } catch (e) {
      return false;
    }
  }

  function initViewer() {
    var box = document.getElementById("viewer");
    var src = document.getElementById("mesh-data");
    if (!box || !src) return;
    var msg = document.getElementById("viewer-msg");
    if (typeof THREE === "undefined" || typeof OrbitControls === "undefined") {
      msg.textContent = "The 3D viewer's library did not load; open the mesh file instead.";
      return;
    }
    if (!webglAvailable()) {
      msg.textContent = "This browser has no WebGL: open the mesh file in MeshLab or Blender.";
      return;
    }
    var mesh = JSON.parse(src.textContent);
    var geom = new THREE.BufferGeometry();
    geom.setAttribute("position", new THREE.BufferAttribute(decode(mesh.positions, Float32Array), 3));
    geom.setAttribute("color", new THREE.BufferAttribute(decode(mesh.colors, Uint8Array), 3, true));
    geom.setIndex(new THREE.BufferAttribute(decode(mesh.indices, Uint32Array), 1));
    geom.computeVertexNormals();
    geom.computeBoundingSphere();
    // Colours are the photos' sRGB values: shown as they are, not colour-managed.
    THREE.ColorManagement.enabled = false;
    var renderer = new THREE.WebGLRenderer({antialias: true});
    renderer.outputColorSpace = THREE.LinearSRGBColorSpace;
    renderer.setPixelRatio(window.devicePixelRatio || 1);
    msg.remove();
    box.appendChild(renderer.domElement);
    var scene = new THREE.Scene();
    scene.background = new THREE.Color(0x1e1e1e);
    var shaded = new THREE.MeshLambertMaterial({vertexColors: true, side: THREE.DoubleSide});
    var flat = new THREE.MeshBasicMaterial({vertexColors: true, side: THREE.DoubleSide});
    var object = new THREE.Mesh(geom, flat);
    scene.add(object);
    scene.add(new THREE.AmbientLight(0xffffff, 1.6));
    var s = geom.boundingSphere;
    var camera = new THREE.PerspectiveCamera(40, 1, s.radius * 0.01, s.radius * 100);
    var light = new THREE.DirectionalLight(0xffffff, 1.4);
    camera.add(light);
    scene.add(camera);
    var dir = new THREE.Vector3().fromArray(mesh.view_dir).normalize();
    camera.up.fromArray(mesh.up);
    camera.position.copy(s.center).addScaledVector(dir, s.radius * 2.6);
    var controls = new OrbitControls(camera, renderer.domElement);
    controls.target.copy(s.center);
    controls.enableDamping = true;
    controls.update();
    function resize() {
      var w = box.clientWidth, h = box.clientHeight;
      renderer.setSize(w, h);
      camera.aspect = w / h;
      camera.updateProjectionMatrix();
    }
    window.addEventListener("resize", resize);
    resize();
    var toggle = document.getElementById("shading");
    if (toggle) {
      toggle.addEventListener("change", function () {
        object.material = toggle.checked ? shaded : flat;
      });
    }
    function frame() {
      controls.update();
      renderer.render(scene, camera);
      requestAnimationFrame(frame);
    }
    frame();
    box.setAttribute("data-ready", "1");
  }

  initSliders();
  initViewer();
})();
